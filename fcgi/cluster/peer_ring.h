// The order in which nginx's `hash $devserver_build consistent` (ketama) tries the peers for a
// build: the first is the build's owner, the next the one that owns it while the first is down,
// and so on. A host staging a build asks the peers for its files in this order, so the ones
// that owned it before (the ring changed, or an owner was down for a while) come first.
//
// nginx puts 160 points per server on a ring of 32-bit CRC32s: the points of the server named
// "host:port" are crc32(host, '\0', port, previous point as 4 little-endian bytes), starting from
// a previous point of 0. A key goes to the first point at or after crc32(key), wrapping around;
// when that server is down, nginx walks on to the next points. The names are the upstream's
// `server` lines, which are the peers' internal listeners (PeerAddress::Internal()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fcgi/config/cluster_peers.h"

namespace devserver {

class PeerRing {
 public:
  explicit PeerRing(std::vector<PeerAddress> peers);

  // Every peer once, in the order nginx tries them for `key` (a build key: "<target>/<build>").
  std::vector<PeerAddress> Order(const std::string& key) const;

  const std::vector<PeerAddress>& peers() const { return peers_; }

 private:
  struct Point {
    uint32_t hash;
    size_t peer;  // index into peers_
  };
  std::vector<PeerAddress> peers_;
  std::vector<Point> points_;  // sorted by hash, duplicates dropped
};

// The build key of the build whose objects live under `object_prefix` ("<path>/<target>/
// <build>"): its last two segments, as the nginx map computes it from every spelling of a
// build (see nginx/devserver-cluster.conf.in).
std::string BuildKeyOf(const std::string& object_prefix);

}  // namespace devserver
