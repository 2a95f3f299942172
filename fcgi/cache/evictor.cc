#include "fcgi/cache/evictor.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "fcgi/base/log.h"
#include "fcgi/build/build_ref.h"
#include "fcgi/metrics/metrics.h"

namespace devserver {

EvictionBudget BudgetFromConfig(const Config& config) {
  EvictionBudget budget;
  budget.max_staged_bytes = config.cache_max_bytes;
  budget.min_free_percent = config.cache_min_free_percent;
  budget.grace_seconds = config.cache_grace_s;
  return budget;
}

int64_t MinFreeBytes(const EvictionBudget& budget, const DiskSpace& disk) {
  return static_cast<int64_t>(disk.total / 100 * static_cast<uint64_t>(budget.min_free_percent));
}

int64_t BytesToFree(const EvictionBudget& budget, int64_t staged_bytes, const DiskSpace& disk) {
  int64_t need = 0;
  if (budget.max_staged_bytes > 0) need = staged_bytes - budget.max_staged_bytes;
  if (budget.min_free_percent > 0) {
    need = std::max(need, MinFreeBytes(budget, disk) - static_cast<int64_t>(disk.available));
  }
  return std::max<int64_t>(need, 0);
}

Status Evictor::Run(const EvictionBudget& budget, bool dry_run, EvictionReport* report) {
  *report = EvictionReport{};
  state::StateSummary summary;
  Status s = db_->Summary(&summary);
  if (!s.ok()) return s;
  report->staged_bytes = summary.staged_bytes;
  s = env_->Disk(static_root_, &report->disk);
  if (!s.ok()) return s;

  report->bytes_to_free = BytesToFree(budget, summary.staged_bytes, report->disk);
  if (report->bytes_to_free == 0 && !budget.all_unused) return Status::Ok();

  const int64_t used_before = env_->WallSeconds() - budget.grace_seconds;
  std::vector<state::EvictableBuild> candidates;
  s = db_->EvictableBuilds(used_before, &candidates);
  if (!s.ok()) return s;
  for (const state::EvictableBuild& build : candidates) {
    if (!budget.all_unused && report->bytes_freed >= report->bytes_to_free) break;
    bool evicted = dry_run;
    if (!dry_run) {
      s = EvictOne(build, used_before, &evicted);
      if (!s.ok()) return s;
      if (evicted) {
        metrics::Add("devserver_evictions_total");
        metrics::Add("devserver_evicted_bytes_total", static_cast<uint64_t>(build.bytes));
      }
    }
    if (evicted) {
      report->evicted.push_back(build);
      report->bytes_freed += build.bytes;
    }
  }
  return Status::Ok();
}

Status Evictor::EvictOne(const state::EvictableBuild& build, int64_t used_before, bool* evicted) {
  // The name comes from the state file; whatever wrote the row, it must name a directory
  // below the static root, by the same rules as a caller's archive_url path.
  Status s = CheckRelativePath("build '" + build.build + "'", build.build);
  if (!s.ok()) return Status::Failed("refusing to evict: " + s.message());
  const std::string dir = static_root_ + "/" + build.build;
  const std::string hidden = static_root_ + "/" + kDetachedPrefix + std::to_string(getpid()) + "-" +
                             std::to_string(env_->WallSeconds()) + "-" +
                             std::to_string(detached_++);
  bool moved = false;
  s = db_->Evict(
      build.build, used_before,
      [&]() {
        int err = 0;
        Status renamed = env_->Rename(dir, hidden, &err);
        moved = renamed.ok();
        // Rows without files (all failed, or removed by hand) go all the same.
        return err == ENOENT ? Status::Ok() : renamed;
      },
      evicted);
  if (!s.ok()) {
    // The rows stay: put the files back where they say the files are. If a new request has
    // made the directory meanwhile, the check on use notices the files are gone instead.
    if (moved && !*evicted && !env_->Rename(hidden, dir).ok()) {
      DS_LOG(kWarning) << "eviction of " << build.build << " failed and its files stay hidden in "
                       << hidden << " until the next eviction removes them";
    }
    return s;
  }
  if (moved) {
    Status removed = env_->RemoveTree(hidden);
    if (!removed.ok()) DS_LOG(kWarning) << removed.message();
  }
  if (*evicted) {
    DS_LOG(kInfo) << "evicted " << build.build << " (" << build.bytes << " bytes, unused for "
                  << env_->WallSeconds() - build.last_used_at << " s)";
  }
  return Status::Ok();
}

int Evictor::RemoveLeftovers() {
  int removed = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(static_root_, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kDetachedPrefix, 0) != 0) continue;
    Status s = env_->RemoveTree(entry.path().string());
    if (!s.ok()) {
      DS_LOG(kWarning) << s.message();
    } else {
      ++removed;
    }
  }
  return removed;
}

}  // namespace devserver
