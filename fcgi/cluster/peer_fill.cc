#include "fcgi/cluster/peer_fill.h"

#include <algorithm>
#include <vector>

#include "fcgi/base/log.h"
#include "fcgi/metrics/metrics.h"
#include "fcgi/storage/http_transport.h"
#include "fcgi/storage/object_checksum.h"
#include "fcgi/storage/object_file.h"

namespace devserver {
namespace {

using storage::BodyRead;
using storage::HttpConnection;
using storage::ObjectInfo;

constexpr size_t kBufferBytes = 1 << 20;
constexpr int kReadWaitMs = 200;  // how often a quiet body is checked for cancellation
constexpr uint64_t kProgressEveryBytes = 8 << 20;

}  // namespace

const char* PeerFill::OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kFilled:
      return "filled";
    case Outcome::kNotHeld:
      return "not_held";
    case Outcome::kUnreachable:
      return "unreachable";
    case Outcome::kFailed:
      return "failed";
    case Outcome::kChecksum:
      return "checksum";
    case Outcome::kCancelled:
      return "cancelled";
  }
  return "failed";
}

PeerFill::PeerFill(PeerFillOptions options, Env* env)
    : options_(std::move(options)), env_(env), ring_(options_.peers) {}

bool PeerFill::Skipped(const std::string& peer) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = unreachable_until_us_.find(peer);
  return it != unreachable_until_us_.end() && env_->MonotonicMicros() < it->second;
}

void PeerFill::MarkUnreachable(const std::string& peer) {
  std::lock_guard<std::mutex> lock(mu_);
  unreachable_until_us_[peer] =
      env_->MonotonicMicros() + int64_t{options_.skip_after_failure_s} * 1'000'000;
}

Status PeerFill::Fetch(const std::string& archive_url, const std::string& object_prefix,
                       const std::string& relative, const ObjectInfo& object,
                       const std::string& dest_path, storage::FetchObserver* observer) {
  if (!storage::ObjectChecksum(object).active()) {
    return Status::NotFound(object.Url() + ": storage gives no checksum to check a peer's copy");
  }
  const std::string target = "/peer/object?archive_url=" + storage::PercentEncode(archive_url) +
                             "&object=" + storage::PercentEncode(relative) +
                             "&generation=" + std::to_string(object.generation);
  std::string reasons;
  int asked = 0;
  for (const PeerAddress& peer : ring_.Order(BuildKeyOf(object_prefix))) {
    if (peer.Public() == options_.self) continue;
    if (asked++ >= options_.max_peers_asked) break;
    std::string why;
    Outcome outcome = Outcome::kUnreachable;
    if (Skipped(peer.Internal())) {
      why = "unreachable recently";
    } else {
      outcome = FetchFrom(peer, target, object, dest_path, observer, &why);
    }
    metrics::Add(metrics::Series("devserver_peer_fills_total", {{"result", OutcomeName(outcome)}}));
    if (outcome == Outcome::kFilled) {
      DS_LOG(kInfo) << "filled " << object.Url() << " (" << object.size << " bytes) from peer "
                    << peer.Internal();
      return Status::Ok();
    }
    if (outcome == Outcome::kCancelled) return Status::Failed("cancelled");
    if (outcome == Outcome::kChecksum || outcome == Outcome::kFailed) {
      DS_LOG(kWarning) << "peer " << peer.Internal() << " could not fill " << object.Url() << ": "
                       << why;
    }
    reasons += (reasons.empty() ? "" : "; ") + peer.Internal() + ": " + why;
    if (outcome == Outcome::kUnreachable) MarkUnreachable(peer.Internal());
  }
  return Status::NotFound(object.Url() + ": no peer filled it (" +
                          (reasons.empty() ? std::string("no other peer") : reasons) + ")");
}

PeerFill::Outcome PeerFill::FetchFrom(const PeerAddress& peer, const std::string& target,
                                      const ObjectInfo& object, const std::string& dest_path,
                                      storage::FetchObserver* observer, std::string* why) {
  storage::HttpEndpoint endpoint;
  endpoint.host = peer.host;
  endpoint.port = static_cast<uint16_t>(peer.port + 1);
  storage::HttpTimeouts timeouts;
  timeouts.connect_ms = options_.connect_timeout_ms;
  timeouts.receive_ms = options_.stall_timeout_ms;
  HttpConnection connection(endpoint, timeouts, nullptr, "devserver_peer");
  storage::HttpRequest request;
  request.target = target;
  const storage::TransportError sent = connection.Start(request);
  if (!sent.ok()) {
    *why = sent.message;
    return Outcome::kUnreachable;
  }
  const int status = static_cast<int>(connection.response().getStatus());
  if (status == 404) {
    *why = "not held";
    return Outcome::kNotHeld;
  }
  if (status != 200) {
    *why = "HTTP " + std::to_string(status);
    return Outcome::kFailed;
  }
  if (!connection.response().hasContentLength() ||
      static_cast<uint64_t>(connection.response().getContentLength64()) != object.size) {
    *why = "its copy is not " + std::to_string(object.size) + " bytes long";
    return Outcome::kFailed;
  }

  storage::ObjectFile file;
  Status s = file.Open(dest_path);
  if (s.ok()) s = file.Reserve(object.size);
  storage::ObjectChecksum checksum(object);
  std::vector<char> buf(kBufferBytes);
  int64_t last_data_us = env_->MonotonicMicros();
  uint64_t reported = 0;
  while (s.ok()) {
    if (observer->Cancelled()) return Outcome::kCancelled;
    size_t got = 0;
    const BodyRead read = connection.ReadBody(buf.data(), buf.size(), kReadWaitMs, &got);
    if (read == BodyRead::kEnd) break;
    if (read == BodyRead::kIdle) {
      if (env_->MonotonicMicros() - last_data_us < int64_t{options_.stall_timeout_ms} * 1000) {
        continue;
      }
      *why = "stalled after " + std::to_string(file.size()) + " bytes";
      return Outcome::kFailed;
    }
    if (read != BodyRead::kData) {
      *why = "cut after " + std::to_string(file.size()) + " bytes: " + connection.error().message;
      return Outcome::kFailed;
    }
    last_data_us = env_->MonotonicMicros();
    checksum.Update(buf.data(), got);
    s = file.Append(buf.data(), got);
    if (!s.ok()) break;
    observer->OnContiguous(dest_path, file.size());  // readers follow every chunk
    if (file.size() - reported >= kProgressEveryBytes) {
      reported = file.size();
      observer->OnProgress(reported, object.size);
    }
  }
  if (s.ok() && file.size() != object.size) {
    *why = "sent " + std::to_string(file.size()) + " of " + std::to_string(object.size) + " bytes";
    return Outcome::kFailed;
  }
  if (s.ok()) {
    s = checksum.Verify(object.Url());
    if (!s.ok()) {
      *why = s.message();
      return Outcome::kChecksum;
    }
  }
  if (s.ok()) s = file.SyncAndClose();
  if (!s.ok()) {
    *why = s.message();
    return Outcome::kFailed;
  }
  observer->OnContiguous(dest_path, object.size);
  observer->OnProgress(object.size, object.size);
  return Outcome::kFilled;
}

}  // namespace devserver
