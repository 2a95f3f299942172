// StateDb: host-wide summaries and listings for /check_health, the index page, /latestbuild and
// devserverctl status.
#include "fcgi/state/state_db.h"
#include "fcgi/state/state_db_sql.h"

namespace devserver::state {

using internal::kStatusColumns;
using internal::ReadStatusColumns;

Status StateDb::Summary(StateSummary* summary) {
  CheckProcess();
  *summary = StateSummary{};
  ReadPool::Lease reader = readers_->Acquire();
  return Run(reader.get(),
             "SELECT (SELECT count(*) FROM artifacts WHERE state = 'staging'), "
             "       (SELECT count(*) FROM artifacts WHERE state = 'queued'), "
             "       (SELECT count(*) FROM artifacts WHERE state = 'failed'), "
             "       (SELECT coalesce(sum(bytes_done), 0) FROM artifacts WHERE state = 'staging'), "
             "       (SELECT coalesce(sum(size), 0) FROM files f WHERE " +
                 std::string(internal::kFirstListing) + ")",
             {}, [&](const Statement& row) {
               summary->staging = row.Int(0);
               summary->queued = row.Int(1);
               summary->failed = row.Int(2);
               summary->in_flight_bytes = row.Int(3);
               summary->staged_bytes = row.Int(4);
             });
}

Status StateDb::RecentBuilds(int limit, std::vector<BuildOverview>* builds) {
  CheckProcess();
  builds->clear();
  ReadPool::Lease reader = readers_->Acquire();
  ReadTransaction txn(reader.get());  // the builds and their artifacts from one snapshot
  Status s = txn.Begin();
  if (s.ok()) {
    s = Run(
        reader.get(),
        "SELECT build, archive_url, last_used_at FROM builds ORDER BY last_used_at DESC LIMIT ?1",
        [&](Statement& st) { st.Bind(1, limit); },
        [&](const Statement& row) {
          builds->push_back({row.Text(0), row.Text(1), row.Int(2), {}});
        });
  }
  for (BuildOverview& build : *builds) {
    if (!s.ok()) break;
    s = Run(
        reader.get(),
        std::string("SELECT artifact, ") + kStatusColumns +
            " FROM artifacts WHERE build = ?1 ORDER BY artifact",
        [&](Statement& st) { st.Bind(1, build.build); },
        [&](const Statement& row) {
          ArtifactStatus status;
          status.artifact = row.Text(0);
          ReadStatusColumns(row, 1, &status);
          build.artifacts.push_back(std::move(status));
        });
  }
  if (s.ok()) s = txn.Commit();
  return s;
}

Status StateDb::StagedBuilds(const std::string& parent, std::vector<std::string>* names) {
  CheckProcess();
  names->clear();
  ReadPool::Lease reader = readers_->Acquire();
  // Builds directly below `parent` ("<parent>/<name>", no further '/') with something staged.
  return Run(
      reader.get(),
      "SELECT DISTINCT substr(b.build, length(?1) + 2) FROM builds b "
      "JOIN artifacts a ON a.build = b.build AND a.state = 'staged' "
      "WHERE substr(b.build, 1, length(?1) + 1) = ?1 || '/' "
      "  AND instr(substr(b.build, length(?1) + 2), '/') = 0",
      [&](Statement& st) { st.Bind(1, parent); },
      [&](const Statement& row) { names->push_back(row.Text(0)); });
}

Status StateDb::Files(const std::string& build, const std::string& artifact,
                      std::vector<StagedFile>* files) {
  CheckProcess();
  files->clear();
  ReadPool::Lease reader = readers_->Acquire();
  return Run(
      reader.get(),
      "SELECT path, size, coalesce(sha1, ''), coalesce(sha256, '') FROM files "
      "WHERE build = ?1 AND artifact = ?2 ORDER BY path",
      [&](Statement& st) { st.Bind(1, build).Bind(2, artifact); },
      [&](const Statement& row) {
        files->push_back({row.Text(0), row.Int(1), row.Text(2), row.Text(3)});
      });
}

}  // namespace devserver::state
