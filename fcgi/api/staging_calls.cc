#include "fcgi/api/staging_calls.h"

#include <algorithm>

namespace devserver {

using state::ArtifactState;

Status ParseBuild(const ServiceInfo& service, const Request& req, BuildRef* ref) {
  const std::string* raw = req.query.Find("archive_url");
  if (raw == nullptr) return Status::InvalidArgument("archive_url is required");
  return ParseArchiveUrl(*raw, service.config.allowed_buckets, ref);
}

std::chrono::steady_clock::time_point Deadline(const ServiceInfo& service, const Request& req) {
  const int64_t max_wait_ms = int64_t{service.config.max_wait_s} * 1000;
  int64_t queued_ms = 0;
  if (req.start_unix_ms > 0) {
    // nginx's fastcgi_read_timeout runs from when it passed the request on, also while the
    // request waits in the socket's backlog for a free request thread (all of them may be
    // waiting for stagings). Counting max_wait from a thread's pick-up instead would let a
    // queued caller's answer come after the read timeout: a 504.
    const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    queued_ms = std::clamp<int64_t>(now_ms - req.start_unix_ms, 0, max_wait_ms);
  }
  return std::chrono::steady_clock::now() + std::chrono::milliseconds(max_wait_ms - queued_ms);
}

Status WaitUntilSettled(const ServiceInfo& service, const Request& req, const BuildRef& ref,
                        const std::vector<std::string>& artifacts, ArtifactStatuses* statuses) {
  const auto deadline = Deadline(service, req);
  Status s = service.staging->Wait(ref, artifacts, deadline, statuses);
  if (s.code() != Status::Code::kUnavailable || std::chrono::steady_clock::now() < deadline) {
    return s;  // settled, or the worker is shutting down
  }
  // The staging goes on (it belongs to the service); the caller gets devserver's own answer
  // to ask again. It comes after max_wait, which devserverctl serve keeps below nginx's
  // fastcgi_read_timeout (and the package's site file likewise), so a slow staging never
  // reaches the caller as nginx's 504.
  std::string pending;
  for (const auto& st : *statuses) {
    if (st.state == ArtifactState::kQueued || st.state == ArtifactState::kStaging) {
      pending += (pending.empty() ? "" : ", ") + st.artifact;
    }
  }
  if (pending.empty()) {
    for (const std::string& a : artifacts) pending += (pending.empty() ? "" : ", ") + a;
  }
  return Status::Unavailable(ref.archive_url + ": still staging " + pending + " after " +
                             std::to_string(service.config.max_wait_s) + " s; ask again");
}

Status Outcome(const BuildRef& ref, const ArtifactStatuses& statuses) {
  std::string causes;
  for (const auto& s : statuses) {
    std::string cause;
    if (s.state == ArtifactState::kFailed) cause = s.error;
    if (s.state == ArtifactState::kMissing) cause = s.artifact + ": was removed while staging";
    if (!cause.empty()) causes += (causes.empty() ? "" : "; ") + cause;
  }
  if (!causes.empty()) return Status::Failed(causes);
  for (const auto& s : statuses) {
    if (s.state != ArtifactState::kStaged) {
      return Status::Unavailable(ref.archive_url + ": " + s.artifact + " is still " +
                                 ArtifactStateName(s.state));
    }
  }
  return Status::Ok();
}

Status EnsureStaged(const ServiceInfo& service, const Request& req, const BuildRef& ref,
                    const std::vector<std::string>& artifacts) {
  // Rows that say staged are not enough for Success: the files must be on disk too (a crash
  // can leave rows whose files are gone, e.g. an eviction killed between hiding the build's
  // directory and committing). The check on use forgets such an artifact, and it is staged
  // again; a second loss in a row fails the call with the cause.
  constexpr int kRounds = 2;
  for (int round = 1;; ++round) {
    ArtifactStatuses statuses;
    Status s = service.staging->Request(ref, artifacts, 0, &statuses);
    if (s.ok() && !AllSettled(statuses))
      s = WaitUntilSettled(service, req, ref, artifacts, &statuses);
    if (s.ok()) s = Outcome(ref, statuses);
    if (s.ok()) s = service.staging->Check(ref, artifacts, &statuses);
    if (!s.ok()) return s;
    std::string lost;
    for (const auto& st : statuses) {
      if (st.state != ArtifactState::kStaged) lost += (lost.empty() ? "" : ", ") + st.artifact;
    }
    if (lost.empty()) break;
    if (round == kRounds) {
      return Status::Failed(ref.archive_url + ": files of " + lost +
                            " went missing from disk right after staging; ask again");
    }
  }
  return Status::Ok();
}

Status StageAndWait(const ServiceInfo& service, const Request& req, const BuildRef& ref,
                    const std::vector<std::string>& artifacts, Response* resp) {
  Status s = EnsureStaged(service, req, ref, artifacts);
  if (s.ok()) *resp = Response::Text("Success");
  return s;
}

std::string BuildDir(const ServiceInfo& service, const std::string& folder) {
  return service.config.static_root + "/" + folder;
}

}  // namespace devserver
