#include "fcgi/api/status_report.h"

#include <algorithm>
#include <utility>

#include "fcgi/cache/evictor.h"
#include "fcgi/staging/staging_service.h"

namespace devserver {
namespace {

// Omaha's event types and results as update_engine sends them.
std::string EventName(int64_t type) {
  switch (type) {
    case 3:
      return "update";
    case 13:
      return "download started";
    case 14:
      return "download finished";
    case 54:
      return "rebooted into the new version";
    default:
      return "event " + std::to_string(type);
  }
}

std::string EventResult(int64_t result) {
  switch (result) {
    case 0:
      return "error";
    case 1:
      return "success";
    case 2:
      return "success, reboot";
    default:
      return "result " + std::to_string(result);
  }
}

Status CollectDisk(const ServiceInfo& service, int64_t staged_bytes, DiskReport* disk) {
  DiskSpace space;
  Status s = service.env->Disk(service.config.static_root, &space);
  if (!s.ok()) return Status::Failed("cannot read free disk space: " + s.message());
  const EvictionBudget budget = BudgetFromConfig(service.config);
  disk->free_bytes = static_cast<int64_t>(space.available);
  disk->total_bytes = static_cast<int64_t>(space.total);
  disk->cache_bytes = staged_bytes;
  disk->max_cache_bytes = budget.max_staged_bytes;
  disk->min_free_percent = budget.min_free_percent;
  disk->min_free_bytes = MinFreeBytes(budget, space);
  disk->bytes_to_free = BytesToFree(budget, staged_bytes, space);
  return Status::Ok();
}

}  // namespace

Pace PaceOf(const state::StateDb::ArtifactProgress& artifact) {
  Pace pace;
  const state::ArtifactStatus& status = artifact.status;
  if (status.state != state::ArtifactState::kStaging || !artifact.started_at ||
      !artifact.updated_at) {
    return pace;
  }
  const int64_t elapsed = *artifact.updated_at - *artifact.started_at;
  if (elapsed <= 0) return pace;  // no heartbeat since the claim's second: nothing to time
  pace.rate_bytes_per_s = status.bytes_done / elapsed;
  if (*pace.rate_bytes_per_s > 0 && status.bytes_total) {
    const int64_t left = std::max<int64_t>(*status.bytes_total - status.bytes_done, 0);
    pace.eta_s = (left + *pace.rate_bytes_per_s - 1) / *pace.rate_bytes_per_s;
  }
  return pace;
}

Status CollectStatus(const ServiceInfo& service, StatusReport* report) {
  *report = StatusReport{};
  report->generated_at = service.env->WallSeconds();
  state::StateDb::LiveStatusSnapshot snapshot;
  Status s = service.staging->LiveStatus(kStatusLimits, &snapshot);
  report->totals = snapshot.totals;
  if (s.ok()) s = CollectDisk(service, report->totals.staged_bytes, &report->disk);
  if (!s.ok()) return s;
  report->builds.reserve(snapshot.builds.size());
  for (state::StateDb::BuildProgress& b : snapshot.builds) {
    BuildReport build{std::move(b.build), std::move(b.archive_url), b.last_used_at, {}};
    build.artifacts.reserve(b.artifacts.size());
    for (state::StateDb::ArtifactProgress& a : b.artifacts) {
      const Pace pace = PaceOf(a);
      build.artifacts.push_back({std::move(a), pace});
    }
    report->builds.push_back(std::move(build));
  }
  report->queue = std::move(snapshot.queue);
  report->omaha_events = std::move(snapshot.omaha_events);
  return Status::Ok();
}

std::string DescribeOmahaEntry(const state::OmahaLogEntry& entry) {
  if (!entry.event_type) return "update check";
  std::string text =
      EventName(*entry.event_type) + ": " + EventResult(entry.event_result.value_or(0));
  if (entry.error_code && *entry.error_code != 0) {
    text += " (error code " + std::to_string(*entry.error_code) + ")";
  }
  if (!entry.previous_version.empty()) text += ", from " + entry.previous_version;
  return text;
}

}  // namespace devserver
