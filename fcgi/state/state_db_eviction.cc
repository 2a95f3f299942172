// StateDb's part in eviction: which builds may go, forgetting one, and recording use.
#include <set>

#include "fcgi/state/run_statement.h"
#include "fcgi/state/state_db.h"
#include "fcgi/state/state_db_sql.h"

namespace devserver::state {
namespace {

// The condition under which a build `b` used before ?2 may be evicted: nobody is staging or
// waiting for a stager to stage any part of it, and no other build lives inside its
// directory (gs://b/x and gs://b/x/y are both builds; x goes only after x/y). (?2, not ?1:
// Evict binds the build as ?1.) '0' is the character after '/'.
constexpr const char* kEvictableWhere =
    "b.last_used_at < ?2 "
    "AND NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.build = b.build "
    "                AND a.state IN ('queued', 'staging')) "
    "AND NOT EXISTS (SELECT 1 FROM builds n WHERE n.build > b.build || '/' "
    "                AND n.build < b.build || '0')";

}  // namespace

Status StateDb::EvictableBuilds(int64_t used_before, std::vector<EvictableBuild>* builds) {
  CheckProcess();
  builds->clear();
  ReadPool::Lease reader = readers_->Acquire();
  return Run(
      reader.get(),
      std::string("SELECT b.build, b.last_used_at, "
                  "  (SELECT coalesce(sum(size), 0) FROM files f WHERE f.build = b.build AND " +
                  std::string(internal::kFirstListing) +
                  ") "
                  "FROM builds b WHERE ") +
          kEvictableWhere + " ORDER BY b.last_used_at, b.build",
      [&](Statement& st) { st.Bind(2, used_before); },
      [&](const Statement& row) {
        builds->push_back({row.Text(0), row.Int(1), row.Int(2)});
      });
}

Status StateDb::Evict(const std::string& build, int64_t used_before,
                      const std::function<Status()>& detach, bool* evicted) {
  std::lock_guard<std::mutex> lock(mu_);
  CheckProcess();
  *evicted = false;
  WriteTransaction txn(&db_);
  Status s = txn.Begin();
  bool evictable = false;
  if (s.ok()) {
    s = Run(
        &db_, std::string("SELECT 1 FROM builds b WHERE b.build = ?1 AND ") + kEvictableWhere,
        [&](Statement& st) { st.Bind(1, build).Bind(2, used_before); },
        [&](const Statement&) { evictable = true; });
  }
  if (!s.ok() || !evictable) return s;  // the transaction rolls back
  // Its artifacts and their files go with it (ON DELETE CASCADE: thousands of rows for an
  // unpacked tree). The rows go before the directory is renamed away, so that a crash can fall
  // between the two only for the commit itself: a crash there leaves rows over hidden files,
  // which the check on use finds and stages again.
  s = Run(&db_, "DELETE FROM builds WHERE build = ?1", [&](Statement& st) { st.Bind(1, build); });
  if (s.ok()) s = detach();
  if (s.ok()) s = txn.Commit();
  *evicted = s.ok();
  return s;
}

Status StateDb::MarkUsed(const std::vector<std::string>& paths) {
  CheckProcess();
  std::set<std::string> prefixes;
  for (const std::string& path : paths) {
    for (size_t slash = path.find('/'); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
      if (slash > 0) prefixes.insert(path.substr(0, slash));
    }
  }
  const int64_t now = options_.env->WallSeconds();
  const int64_t stale = now - kLastUsedResolutionSeconds;
  // Reads first: most files read belong to builds whose use was recorded a moment ago.
  std::vector<std::string> due;
  {
    ReadPool::Lease reader = readers_->Acquire();
    for (const std::string& prefix : prefixes) {
      Status s = Run(
          reader.get(), "SELECT 1 FROM builds WHERE build = ?1 AND last_used_at < ?2",
          [&](Statement& st) { st.Bind(1, prefix).Bind(2, stale); },
          [&](const Statement&) { due.push_back(prefix); });
      if (!s.ok()) return s;
    }
  }
  if (due.empty()) return Status::Ok();
  std::lock_guard<std::mutex> lock(mu_);
  WriteTransaction txn(&db_);
  Status s = txn.Begin();
  for (const std::string& build : due) {
    if (!s.ok()) break;
    s = Run(&db_, "UPDATE builds SET last_used_at = ?2 WHERE build = ?1 AND last_used_at < ?2",
            [&](Statement& st) { st.Bind(1, build).Bind(2, now); });
  }
  if (s.ok()) s = txn.Commit();
  return s;
}

}  // namespace devserver::state
