// StateDb: host-wide summaries and listings for /check_health, the index page, /latestbuild and
// devserverctl status.
#include "fcgi/state/state_db.h"
#include "fcgi/state/state_db_sql.h"

namespace devserver::state {

using internal::kStatusColumns;
using internal::ReadStatusColumns;

Status StateDb::Summary(StateSummary* summary) {
  CheckProcess();
  ReadPool::Lease reader = readers_->Acquire();
  return SummaryOn(reader.get(), summary);
}

Status StateDb::SummaryOn(Connection* reader, StateSummary* summary) {
  *summary = StateSummary{};
  return Run(reader,
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

namespace {

// The columns of a file with its payload facts: files f LEFT JOIN payloads p.
constexpr const char* kFileColumns =
    "f.path, f.size, coalesce(f.sha1, ''), coalesce(f.sha256, ''), p.sha256_hex, "
    "p.metadata_size, p.is_delta, p.version";

StagedFile ReadFileColumns(const Statement& row) {
  StagedFile file{row.Text(0), row.Int(1), row.Text(2), row.Text(3), std::nullopt};
  if (!row.IsNull(4)) {
    file.payload =
        PayloadFacts{row.Text(4), row.OptionalInt(5).value_or(-1), row.Int(6) != 0, row.Text(7)};
  }
  return file;
}

}  // namespace

Status StateDb::Files(const std::string& build, const std::string& artifact,
                      std::vector<StagedFile>* files) {
  CheckProcess();
  files->clear();
  ReadPool::Lease reader = readers_->Acquire();
  return Run(
      reader.get(),
      std::string("SELECT ") + kFileColumns +
          " FROM files f LEFT JOIN payloads p USING (build, artifact, path) "
          "WHERE f.build = ?1 AND f.artifact = ?2 ORDER BY f.path",
      [&](Statement& st) { st.Bind(1, build).Bind(2, artifact); },
      [&](const Statement& row) { files->push_back(ReadFileColumns(row)); });
}

Status StateDb::FindVerbatimFile(const std::string& build, const std::string& object,
                                 StagedFile* file) {
  CheckProcess();
  ReadPool::Lease reader = readers_->Acquire();
  bool found = false;
  Status s = Run(
      reader.get(),
      "SELECT f.path, f.size, f.source_generation FROM files f "
      "JOIN artifacts a ON a.build = f.build AND a.artifact = f.artifact AND a.state = 'staged' "
      "WHERE f.build = ?1 AND f.source_object = ?2 LIMIT 1",
      [&](Statement& st) { st.Bind(1, build).Bind(2, object); },
      [&](const Statement& row) {
        *file = StagedFile{row.Text(0), row.Int(1), "", "", std::nullopt, object, row.Int(2)};
        found = true;
      });
  if (s.ok() && !found) return Status::NotFound(build + " has no staged copy of " + object);
  return s;
}

Status StateDb::RecordPayloadFacts(const std::string& build, const std::string& artifact,
                                   const StagedFile& file, bool* recorded) {
  *recorded = false;
  if (!file.payload) return Status::InvalidArgument("no payload facts to record");
  std::lock_guard<std::mutex> lock(mu_);
  CheckProcess();
  WriteTransaction txn(&db_);
  Status s = txn.Begin();
  if (s.ok()) {
    s = Run(
        &db_,
        "UPDATE files SET sha1 = ?5, sha256 = ?6 WHERE build = ?1 AND artifact = ?2 "
        "  AND path = ?3 AND size = ?4 "
        "  AND NOT EXISTS (SELECT 1 FROM payloads p WHERE p.build = ?1 "
        "    AND p.artifact = ?2 AND p.path = ?3) RETURNING 1",
        [&](Statement& st) {
          st.Bind(1, build)
              .Bind(2, artifact)
              .Bind(3, file.path)
              .Bind(4, file.size)
              .Bind(5, file.sha1)
              .Bind(6, file.sha256);
        },
        [&](const Statement&) { *recorded = true; });
  }
  if (s.ok() && *recorded) {
    s = internal::InsertPayloadFacts(&db_, build, artifact, file.path, *file.payload);
  }
  if (s.ok()) s = txn.Commit();
  if (!s.ok()) *recorded = false;
  return s;
}

Status StateDb::FileAt(const std::string& static_path, StagedFile* file, bool* found) {
  CheckProcess();
  *found = false;
  ReadPool::Lease reader = readers_->Acquire();
  // The build is some leading part of the path; (build, path) is indexed, so each split is
  // one lookup. Files shared by several artifacts have a row for each: any one will do.
  const std::string sql = std::string("SELECT ") + kFileColumns +
                          " FROM files f JOIN artifacts a USING (build, artifact) "
                          "LEFT JOIN payloads p USING (build, artifact, path) "
                          "WHERE f.build = ?1 AND f.path = ?2 AND a.state = 'staged' "
                          "ORDER BY p.path IS NULL LIMIT 1";
  for (size_t slash = static_path.find('/'); slash != std::string::npos && !*found;
       slash = static_path.find('/', slash + 1)) {
    Status s = Run(
        reader.get(), sql,
        [&](Statement& st) {
          st.Bind(1, static_path.substr(0, slash)).Bind(2, static_path.substr(slash + 1));
        },
        [&](const Statement& row) {
          *file = ReadFileColumns(row);
          *found = true;
        });
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace devserver::state
