// StateDb: what callers ask for (Request) and take back (Forget).
#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "fcgi/state/state_db.h"
#include "fcgi/state/state_db_sql.h"

namespace devserver::state {

using internal::kStatusColumns;
using internal::NamesQuery;
using internal::ReadStatusColumns;

bool StateDb::RequestChangesNothing(const std::string& build,
                                    const std::vector<std::string>& artifacts, int priority,
                                    int64_t now, std::vector<ArtifactStatus>* statuses) {
  static const NamesQuery kQuery(std::string("SELECT a.artifact, ") + kStatusColumns +
                                 ", a.priority, coalesce(a.retry_after, 0), b.last_used_at "
                                 "FROM artifacts a JOIN builds b ON b.build = a.build "
                                 "WHERE a.build = ?1 AND a.artifact = ?");
  std::unordered_map<std::string, ArtifactStatus> found;
  bool changes = false;
  Status s;
  {
    ReadPool::Lease reader = readers_->Acquire();
    s = kQuery.Run(reader.get(), build, artifacts, [&](const Statement& row) {
      ArtifactStatus& status = found[row.Text(0)];
      ReadStatusColumns(row, 1, &status);
      constexpr int kAfter = 1 + internal::kStatusColumnCount;  // priority, retry_after, use
      const bool retry_due = status.state == ArtifactState::kFailed && row.Int(kAfter + 1) <= now;
      const bool more_urgent = priority < row.Int(kAfter) &&
                               status.state != ArtifactState::kStaged &&
                               status.state != ArtifactState::kFailed;
      const bool usage_stale = row.Int(kAfter + 2) < now - kLastUsedResolutionSeconds;
      changes = changes || retry_due || more_urgent || usage_stale;
    });
  }
  if (!s.ok() || changes) return false;
  statuses->clear();
  statuses->reserve(artifacts.size());
  for (const std::string& artifact : artifacts) {
    auto it = found.find(artifact);
    if (it == found.end()) return false;  // a missing row: it must be queued
    statuses->push_back(it->second);
    statuses->back().artifact = artifact;
  }
  return true;
}

Status StateDb::Request(const std::string& build, const std::string& archive_url,
                        const std::vector<std::string>& artifacts, int priority,
                        std::vector<ArtifactStatus>* statuses) {
  CheckProcess();
  const int64_t now = options_.env->WallSeconds();
  // Most requests name builds that are staged or under way (every /download after the first,
  // every waiter's poll): a read shows they would change nothing, and they never queue for
  // the single write lock.
  if (RequestChangesNothing(build, artifacts, priority, now, statuses)) return Status::Ok();
  std::lock_guard<std::mutex> lock(mu_);
  WriteTransaction txn(&db_);
  Status s = txn.Begin();
  if (s.ok()) {
    s = Run(&db_,
            "INSERT INTO builds (build, archive_url, created_at, last_used_at) "
            "VALUES (?1, ?2, ?3, ?3) "
            "ON CONFLICT (build) DO UPDATE SET last_used_at = excluded.last_used_at",
            [&](Statement& st) { st.Bind(1, build).Bind(2, archive_url).Bind(3, now); });
  }
  statuses->clear();
  bool new_round = false;
  for (const std::string& artifact : artifacts) {
    if (!s.ok()) break;
    ArtifactStatus before;
    s = ReadStatus(build, artifact, &before);
    if (!s.ok()) break;
    // In an UPSERT's SET, bare column names are the existing row's values. A failed artifact
    // queued again starts a new round of attempts.
    s = Run(
        &db_,
        "INSERT INTO artifacts (build, artifact, state, priority, requested_at) "
        "VALUES (?1, ?2, 'queued', ?3, ?4) "
        "ON CONFLICT (build, artifact) DO UPDATE SET "
        "  requested_at = CASE WHEN state = 'failed' AND retry_after <= ?4 "
        "                      THEN ?4 ELSE requested_at END, "
        "  attempts = CASE WHEN state = 'failed' AND retry_after <= ?4 "
        "                  THEN 0 ELSE attempts END, "
        "  state = CASE WHEN state = 'failed' AND retry_after <= ?4 "
        "               THEN 'queued' ELSE state END, "
        "  priority = min(priority, excluded.priority)",
        [&](Statement& st) { st.Bind(1, build).Bind(2, artifact).Bind(3, priority).Bind(4, now); });
    ArtifactStatus status;
    if (s.ok()) s = ReadStatus(build, artifact, &status);
    new_round =
        new_round ||
        (status.state == ArtifactState::kQueued &&
         (before.state == ArtifactState::kMissing || before.state == ArtifactState::kFailed));
    statuses->push_back(std::move(status));
  }
  // New work reads the build's folder afresh (objects may have been uploaded or replaced
  // since); the stagers of this round then share that one read.
  if (s.ok() && new_round) {
    s = Run(&db_, "DELETE FROM listings WHERE build = ?1",
            [&](Statement& st) { st.Bind(1, build); });
  }
  if (s.ok()) s = txn.Commit();
  return s;
}

Status StateDb::Forget(const std::string& build, const std::vector<std::string>& artifacts,
                       const DetachFiles& detach) {
  std::lock_guard<std::mutex> lock(mu_);
  CheckProcess();
  WriteTransaction txn(&db_);
  Status s = txn.Begin();
  std::unordered_set<std::string> paths;
  for (const std::string& artifact : artifacts) {
    if (!s.ok()) break;
    ArtifactStatus status;
    s = ReadStatus(build, artifact, &status);
    if (s.ok() && status.state == ArtifactState::kStaging) {
      return Status::Failed(build + " " + artifact + " is being staged; try again when it is done");
    }
    if (s.ok() && detach) {
      s = Run(
          &db_, "SELECT path FROM files WHERE build = ?1 AND artifact = ?2",
          [&](Statement& st) { st.Bind(1, build).Bind(2, artifact); },
          [&](const Statement& row) { paths.insert(row.Text(0)); });
    }
    if (s.ok()) {
      // Its files rows go with it (ON DELETE CASCADE).
      s = Run(&db_, "DELETE FROM artifacts WHERE build = ?1 AND artifact = ?2",
              [&](Statement& st) { st.Bind(1, build).Bind(2, artifact); });
    }
  }
  // A file another artifact still lists stays: cleaning one artifact never takes files from
  // under another that /is_staged reports staged.
  std::vector<std::string> orphans;
  for (const std::string& path : paths) {
    if (!s.ok()) break;
    bool listed = false;
    s = Run(
        &db_, "SELECT 1 FROM files WHERE build = ?1 AND path = ?2 LIMIT 1",
        [&](Statement& st) { st.Bind(1, build).Bind(2, path); },
        [&](const Statement&) { listed = true; });
    if (s.ok() && !listed) orphans.push_back(path);
  }
  std::sort(orphans.begin(), orphans.end());
  if (s.ok() && detach && !orphans.empty()) s = detach(orphans);
  if (s.ok()) s = txn.Commit();
  return s;
}

Status StateDb::ForgetStaged(const std::string& build, const std::string& artifact, int64_t token) {
  std::lock_guard<std::mutex> lock(mu_);
  CheckProcess();
  return Run(&db_,
             "DELETE FROM artifacts WHERE build = ?1 AND artifact = ?2 AND token = ?3 "
             "  AND state = 'staged'",
             [&](Statement& st) { st.Bind(1, build).Bind(2, artifact).Bind(3, token); });
}

}  // namespace devserver::state
