#include "fcgi/api/staging_calls.h"

namespace devserver {

using state::ArtifactState;

Status ParseBuild(const ServiceInfo& service, const Request& req, BuildRef* ref) {
  const std::string* raw = req.query.Find("archive_url");
  if (raw == nullptr) return Status::InvalidArgument("archive_url is required");
  return ParseArchiveUrl(*raw, service.config.allowed_buckets, ref);
}

std::chrono::steady_clock::time_point Deadline(const ServiceInfo& service) {
  return std::chrono::steady_clock::now() + std::chrono::seconds(service.config.max_wait_s);
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

Status StageAndWait(const ServiceInfo& service, const BuildRef& ref,
                    const std::vector<std::string>& artifacts, Response* resp) {
  ArtifactStatuses statuses;
  Status s = service.staging->Request(ref, artifacts, 0, &statuses);
  if (s.ok() && !AllSettled(statuses))
    s = service.staging->Wait(ref, artifacts, Deadline(service), &statuses);
  if (s.ok()) s = Outcome(ref, statuses);
  if (s.ok()) *resp = Response::Text("Success");
  return s;
}

std::string BuildDir(const ServiceInfo& service, const std::string& folder) {
  return service.config.static_root + "/" + folder;
}

}  // namespace devserver
