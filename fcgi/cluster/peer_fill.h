// Peer fill: a host about to download a build's object from storage first asks the cluster's
// other hosts for it, in ring order (PeerRing), because one of them may hold the build: it owned
// it before the ring changed, or while this host was down. A peer is a cache, never the source
// of truth: the bytes are checked against the checksum storage's metadata gives for the
// object, and anything short of a verified copy (a 404, a dead or slow peer, a wrong byte)
// leaves the caller to fetch from storage as if no peer existed.
//
// What a peer holds is what it staged unchanged: the files its plugins placed as fetched
// objects (StateDb::FindVerbatimFile). It is asked at GET /peer/object on its internal
// listener, where nginx sends the file from disk (X-Accel-Redirect); files unpacked from
// archives are not kept as their objects and always come from storage.
//
// Peers are reached with plain HTTP, counted as devserver_peer_requests_total and
// devserver_peer_bytes_total; each fill's outcome as devserver_peer_fills_total{result}.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "fcgi/base/env.h"
#include "fcgi/base/status.h"
#include "fcgi/cluster/peer_ring.h"
#include "fcgi/storage/archive_store.h"

namespace devserver {

struct PeerFillOptions {
  std::vector<PeerAddress> peers;  // every host of the cluster, this one included
  std::string self;                // this host's entry ("host:port", public); "" = unknown
  int max_peers_asked = 3;         // the first hosts of the ring order other than this one
  int connect_timeout_ms = 2000;
  int stall_timeout_ms = 30000;   // no byte for this long: the peer is given up on
  int skip_after_failure_s = 10;  // a peer that could not be reached is not asked for this long
};

class PeerFill {
 public:
  PeerFill(PeerFillOptions options, Env* env);

  // Fetches `object` (named `relative` inside the build's folder; the build is `archive_url`,
  // whose objects are under `object_prefix`) from a peer into `dest_path`, verified and
  // fsynced. Ok: filled. Failed("cancelled") when the observer cancelled. Otherwise NotFound
  // with why no peer could, each asked peer's reason in turn (for the log): none held it, one
  // was unreachable, sent a short or corrupt copy, or the object has no checksum to check a
  // copy against. `dest_path` may then hold partial bytes.
  Status Fetch(const std::string& archive_url, const std::string& object_prefix,
               const std::string& relative, const storage::ObjectInfo& object,
               const std::string& dest_path, storage::FetchObserver* observer);

 private:
  enum class Outcome { kFilled, kNotHeld, kUnreachable, kFailed, kChecksum, kCancelled };
  // The result label of devserver_peer_fills_total.
  static const char* OutcomeName(Outcome outcome);
  Outcome FetchFrom(const PeerAddress& peer, const std::string& target,
                    const storage::ObjectInfo& object, const std::string& dest_path,
                    storage::FetchObserver* observer, std::string* why);
  bool Skipped(const std::string& peer);
  void MarkUnreachable(const std::string& peer);

  const PeerFillOptions options_;
  Env* const env_;
  const PeerRing ring_;
  std::mutex mu_;
  std::map<std::string, int64_t> unreachable_until_us_;  // by internal address
};

}  // namespace devserver
