#include "fcgi/state/state_db.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <functional>
#include <unordered_map>
#include <utility>

#include "fcgi/base/log.h"
#include "fcgi/state/migrations.h"
#include "fcgi/state/run_statement.h"

namespace devserver::state {
namespace {

ArtifactState ParseState(const std::string& text) {
  if (text == "queued") return ArtifactState::kQueued;
  if (text == "staging") return ArtifactState::kStaging;
  if (text == "staged") return ArtifactState::kStaged;
  if (text == "failed") return ArtifactState::kFailed;
  return ArtifactState::kMissing;
}

// owner_alive(lock_path): the SQL face of Liveness, so a claim can test ownership inside the
// same statement that selects the row.
void OwnerAliveFunction(sqlite3_context* context, int, sqlite3_value** args) {
  auto* liveness = static_cast<Liveness*>(sqlite3_user_data(context));
  const unsigned char* path = sqlite3_value_text(args[0]);
  bool alive = path != nullptr && liveness->IsAlive(reinterpret_cast<const char*>(path));
  sqlite3_result_int(context, alive ? 1 : 0);
}

// A query over a list of artifact names of one build, as one statement: `arm`, a SELECT
// ending in "= ?" that is completed with the number of a name's parameter (?1 is the build),
// repeated for each name and joined by UNION ALL. Each arm is one index lookup; an IN list
// would first build a temporary table of the names, which cost more than the lookups. The
// arms are padded to a power of two with unbound (NULL) names that match nothing, so a few
// statement texts serve every length and stay cached; longer lists run in chunks.
class NamesQuery {
 public:
  static constexpr size_t kMaxNames = 64;

  explicit NamesQuery(const std::string& arm) {
    for (size_t i = 0; i < texts_.size(); ++i) {
      for (size_t n = 0; n < (size_t{1} << i); ++n) {
        texts_[i] += (n == 0 ? "" : " UNION ALL ") + arm + std::to_string(n + 2);
      }
    }
  }

  // Runs the query for every name (duplicates once), in one snapshot.
  Status Run(Connection* db, const std::string& build, const std::vector<std::string>& names,
             const RowReader& row) const {
    std::vector<const std::string*> unique;
    unique.reserve(names.size());
    for (const std::string& name : names) unique.push_back(&name);
    std::sort(unique.begin(), unique.end(),
              [](const std::string* a, const std::string* b) { return *a < *b; });
    unique.erase(std::unique(unique.begin(), unique.end(),
                             [](const std::string* a, const std::string* b) { return *a == *b; }),
                 unique.end());
    // One statement is one snapshot; only a list too long for one needs a transaction.
    ReadTransaction txn(db);
    Status s = unique.size() > kMaxNames ? txn.Begin() : Status::Ok();
    for (size_t first = 0; s.ok() && first < unique.size(); first += kMaxNames) {
      const size_t count = std::min(kMaxNames, unique.size() - first);
      size_t bucket = 0;
      while ((size_t{1} << bucket) < count) ++bucket;
      s = devserver::state::Run(
          db, texts_[bucket],
          [&](Statement& st) {
            st.Bind(1, build);
            for (size_t n = 0; n < count; ++n) st.Bind(static_cast<int>(n + 2), *unique[first + n]);
            // Unbound parameters are NULL: the padding matches no row.
          },
          row);
    }
    if (s.ok() && unique.size() > kMaxNames) s = txn.Commit();
    return s;
  }

 private:
  std::array<std::string, 7> texts_;  // 1, 2, 4, ... kMaxNames arms
  static_assert(size_t{1} << 6 == kMaxNames);
};

// The columns every status read selects, in the order ReadStatusColumns expects.
constexpr const char* kStatusColumns =
    "state, coalesce(error, ''), attempts, bytes_done, bytes_total";

// Fills the fields of `status` other than its name from kStatusColumns starting at `first`.
void ReadStatusColumns(const Statement& row, int first, ArtifactStatus* status) {
  status->state = ParseState(row.Text(first));
  status->error = row.Text(first + 1);
  status->attempts = static_cast<int>(row.Int(first + 2));
  status->bytes_done = row.Int(first + 3);
  status->bytes_total = row.OptionalInt(first + 4);
}

constexpr const char* kClaimableWhere =
    "state = 'queued' OR (state = 'staging' AND (lease_expires < ?1 OR NOT "
    "owner_alive(owner_lock)))";

// An UPDATE of the claim's row that takes effect only while the claim holds it: `set` is the
// SET list, whose parameters start at ?4 and are bound by `bind` (?1 build, ?2 artifact,
// ?3 token are bound here). Failed "claim lost" when another owner holds the row.
Status UpdateClaimed(Connection* db, const Claim& claim, const std::string& what,
                     const std::string& set, const Binder& bind) {
  Status s = Run(db,
                 "UPDATE artifacts SET " + set +
                     " WHERE build = ?1 AND artifact = ?2 AND token = ?3 AND state = 'staging'",
                 [&](Statement& st) {
                   st.Bind(1, claim.build).Bind(2, claim.artifact).Bind(3, claim.token);
                   bind(st);
                 });
  if (s.ok() && db->Changes() == 0) {
    return Status::Failed(what + " " + claim.build + " " + claim.artifact + ": claim " +
                          std::to_string(claim.token) + " lost to another owner");
  }
  return s;
}

// Live claims count against the host's limit on concurrent stagings; dead ones do not.
constexpr const char* kUnderLimit =
    "(SELECT count(*) FROM artifacts WHERE state = 'staging' AND lease_expires >= ?1 "
    "   AND owner_alive(owner_lock)) < ?2";

}  // namespace

const char* ArtifactStateName(ArtifactState state) {
  switch (state) {
    case ArtifactState::kMissing:
      return "missing";
    case ArtifactState::kQueued:
      return "queued";
    case ArtifactState::kStaging:
      return "staging";
    case ArtifactState::kStaged:
      return "staged";
    case ArtifactState::kFailed:
      return "failed";
  }
  return "?";
}

Status StateDb::Open(const std::string& path, const StateOptions& options,
                     std::unique_ptr<StateDb>* db) {
  Connection connection;
  Status s = Connection::Open(path, options.busy_timeout_ms, &connection);
  if (!s.ok()) return s;
  StateOptions resolved = options;
  if (resolved.env == nullptr) resolved.env = Env::Default();
  if (resolved.liveness == nullptr) resolved.liveness = FileLockLiveness();
  if (sqlite3_create_function_v2(connection.raw(), "owner_alive", 1, SQLITE_UTF8, resolved.liveness,
                                 OwnerAliveFunction, nullptr, nullptr, nullptr) != SQLITE_OK) {
    return connection.Error("registering owner_alive()");
  }
  s = Migrate(&connection);
  if (!s.ok()) return s;
  // After the migration: readers expect the schema in place.
  std::unique_ptr<ReadPool> readers;
  s = ReadPool::Open(path, options.read_connections, options.busy_timeout_ms, &readers);
  if (!s.ok()) return s;
  db->reset(new StateDb(std::move(connection), std::move(readers), resolved));
  return Status::Ok();
}

StateDb::StateDb(Connection connection, std::unique_ptr<ReadPool> readers,
                 const StateOptions& options)
    : db_(std::move(connection)),
      readers_(std::move(readers)),
      options_(options),
      opener_pid_(getpid()) {}

StateDb::~StateDb() = default;

void StateDb::CheckProcess() const {
  // An SQLite connection carried across fork() corrupts locks and the file: refuse loudly.
  if (getpid() != opener_pid_) {
    DS_LOG(kError) << "state database opened in process " << opener_pid_ << " used from process "
                   << getpid() << "; aborting";
    std::abort();
  }
}

Status StateDb::ReadStatus(const std::string& build, const std::string& artifact,
                           ArtifactStatus* status) {
  static const std::string kSql = std::string("SELECT ") + kStatusColumns +
                                  " FROM artifacts WHERE build = ?1 AND artifact = ?2";
  *status = ArtifactStatus{};
  status->artifact = artifact;
  return Run(
      &db_, kSql, [&](Statement& st) { st.Bind(1, build).Bind(2, artifact); },
      [&](const Statement& row) { ReadStatusColumns(row, 0, status); });
}

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
      const bool retry_due = status.state == ArtifactState::kFailed && row.Int(7) <= now;
      const bool more_urgent = priority < row.Int(6) && status.state != ArtifactState::kStaged &&
                               status.state != ArtifactState::kFailed;
      const bool usage_stale = row.Int(8) < now - kLastUsedResolutionSeconds;
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
  for (const std::string& artifact : artifacts) {
    if (!s.ok()) break;
    // In an UPSERT's SET, bare column names are the existing row's values.
    s = Run(
        &db_,
        "INSERT INTO artifacts (build, artifact, state, priority, requested_at) "
        "VALUES (?1, ?2, 'queued', ?3, ?4) "
        "ON CONFLICT (build, artifact) DO UPDATE SET "
        "  requested_at = CASE WHEN state = 'failed' AND retry_after <= ?4 "
        "                      THEN ?4 ELSE requested_at END, "
        "  state = CASE WHEN state = 'failed' AND retry_after <= ?4 "
        "               THEN 'queued' ELSE state END, "
        "  priority = min(priority, excluded.priority)",
        [&](Statement& st) { st.Bind(1, build).Bind(2, artifact).Bind(3, priority).Bind(4, now); });
    ArtifactStatus status;
    if (s.ok()) s = ReadStatus(build, artifact, &status);
    statuses->push_back(std::move(status));
  }
  if (s.ok()) s = txn.Commit();
  return s;
}

Status StateDb::Get(const std::string& build, const std::vector<std::string>& artifacts,
                    std::vector<ArtifactStatus>* statuses) {
  static const NamesQuery kQuery(std::string("SELECT artifact, ") + kStatusColumns +
                                 " FROM artifacts WHERE build = ?1 AND artifact = ?");
  CheckProcess();
  std::unordered_map<std::string, ArtifactStatus> found;
  Status s;
  {
    ReadPool::Lease reader = readers_->Acquire();
    s = kQuery.Run(reader.get(), build, artifacts, [&](const Statement& row) {
      ArtifactStatus& status = found[row.Text(0)];
      ReadStatusColumns(row, 1, &status);
    });
  }
  statuses->clear();
  if (!s.ok()) return s;
  statuses->reserve(artifacts.size());
  for (const std::string& artifact : artifacts) {
    auto it = found.find(artifact);
    statuses->push_back(it != found.end() ? it->second : ArtifactStatus{});
    statuses->back().artifact = artifact;
  }
  return Status::Ok();
}

Status StateDb::GetWithFiles(const std::string& build, const std::vector<std::string>& artifacts,
                             std::vector<ArtifactStatus>* statuses,
                             std::vector<std::vector<StagedFile>>* files) {
  // Files are joined only to staged artifacts: nothing else has its files checked on disk.
  static const NamesQuery kQuery(
      "SELECT a.artifact, a.state, coalesce(a.error, ''), a.attempts, a.bytes_done, "
      "  a.bytes_total, f.path, f.size, coalesce(f.sha1, ''), coalesce(f.sha256, '') "
      "FROM artifacts a LEFT JOIN files f "
      "  ON a.state = 'staged' AND f.build = a.build AND f.artifact = a.artifact "
      "WHERE a.build = ?1 AND a.artifact = ?");
  CheckProcess();
  struct Found {
    bool seen = false;
    ArtifactStatus status;
    std::vector<StagedFile> files;
  };
  std::unordered_map<std::string, Found> found;
  Status s;
  {
    ReadPool::Lease reader = readers_->Acquire();
    s = kQuery.Run(reader.get(), build, artifacts, [&](const Statement& row) {
      Found& entry = found[row.Text(0)];
      if (!entry.seen) ReadStatusColumns(row, 1, &entry.status);  // the same on each file's row
      entry.seen = true;
      if (!row.IsNull(6)) {
        entry.files.push_back({row.Text(6), row.Int(7), row.Text(8), row.Text(9)});
      }
    });
  }
  statuses->clear();
  files->clear();
  if (!s.ok()) return s;
  // In path order, as Files() gives them. A compound SELECT cannot order its arms, though
  // the lookup through the files index usually yields that order already.
  const auto by_path = [](const StagedFile& a, const StagedFile& b) { return a.path < b.path; };
  for (auto& [artifact, entry] : found) {
    if (!std::is_sorted(entry.files.begin(), entry.files.end(), by_path)) {
      std::sort(entry.files.begin(), entry.files.end(), by_path);
    }
  }
  statuses->reserve(artifacts.size());
  files->reserve(artifacts.size());
  for (const std::string& artifact : artifacts) {
    auto it = found.find(artifact);
    if (it == found.end()) {
      statuses->emplace_back();
      files->emplace_back();
    } else {
      statuses->push_back(it->second.status);
      files->push_back(it->second.files);
    }
    statuses->back().artifact = artifact;
  }
  return Status::Ok();
}

Status StateDb::ClaimNext(const Owner& owner, int max_staging, std::optional<Claim>* claim) {
  std::lock_guard<std::mutex> lock(mu_);
  CheckProcess();
  claim->reset();
  const int64_t now = options_.env->WallSeconds();
  // Polling stagers look first without the write lock; only a hit takes it and re-checks.
  bool any = false;
  Status s = Run(
      &db_,
      std::string("SELECT 1 FROM artifacts WHERE (") + kClaimableWhere + ") AND " + kUnderLimit +
          " LIMIT 1",
      [&](Statement& st) { st.Bind(1, now).Bind(2, max_staging); },
      [&](const Statement&) { any = true; });
  if (!s.ok() || !any) return s;

  WriteTransaction txn(&db_);
  s = txn.Begin();
  Claim found;
  bool have = false;
  if (s.ok()) {
    s = Run(
        &db_,
        std::string("SELECT a.build, a.artifact, b.archive_url FROM artifacts a "
                    "JOIN builds b USING (build) WHERE (") +
            kClaimableWhere + ") AND " + kUnderLimit + " ORDER BY priority, requested_at LIMIT 1",
        [&](Statement& st) { st.Bind(1, now).Bind(2, max_staging); },
        [&](const Statement& row) {
          found.build = row.Text(0);
          found.artifact = row.Text(1);
          found.archive_url = row.Text(2);
          have = true;
        });
  }
  if (!s.ok() || !have) return s;  // someone else claimed it between the two looks
  s = Run(&db_, "UPDATE counters SET value = value + 1 WHERE name = 'fencing' RETURNING value", {},
          [&](const Statement& row) { found.token = row.Int(0); });
  if (s.ok()) {
    s = Run(
        &db_,
        "UPDATE artifacts SET state = 'staging', owner_pid = ?3, owner_start = ?4, "
        "  owner_lock = ?5, lease_expires = ?6 + ?7, token = ?8, attempts = attempts + 1, "
        "  started_at = ?6, finished_at = NULL, bytes_done = 0, error = NULL "
        "WHERE build = ?1 AND artifact = ?2 RETURNING attempts",
        [&](Statement& st) {
          st.Bind(1, found.build)
              .Bind(2, found.artifact)
              .Bind(3, owner.pid)
              .Bind(4, owner.start_ticks)
              .Bind(5, owner.lock_path)
              .Bind(6, now)
              .Bind(7, options_.lease_seconds)
              .Bind(8, found.token);
        },
        [&](const Statement& row) { found.attempts = static_cast<int>(row.Int(0)); });
  }
  if (s.ok()) s = txn.Commit();
  if (s.ok()) *claim = std::move(found);
  return s;
}

Status StateDb::Heartbeat(const Claim& claim, int64_t bytes_done,
                          std::optional<int64_t> bytes_total) {
  std::lock_guard<std::mutex> lock(mu_);
  CheckProcess();
  const int64_t now = options_.env->WallSeconds();
  return UpdateClaimed(
      &db_, claim, "heartbeat",
      "lease_expires = ?4 + ?5, bytes_done = ?6, "
      "bytes_total = coalesce(?7, bytes_total)",
      [&](Statement& st) {
        st.Bind(4, now).Bind(5, options_.lease_seconds).Bind(6, bytes_done).Bind(7, bytes_total);
      });
}

Status StateDb::Publish(const Claim& claim, const std::vector<StagedFile>& files) {
  std::lock_guard<std::mutex> lock(mu_);
  CheckProcess();
  int64_t total = 0;
  for (const StagedFile& f : files) total += f.size;
  WriteTransaction txn(&db_);
  Status s = txn.Begin();
  if (s.ok()) {
    s = UpdateClaimed(
        &db_, claim, "publish",
        "state = 'staged', finished_at = ?4, owner_pid = NULL, owner_start = NULL, "
        "owner_lock = NULL, lease_expires = NULL, bytes_done = ?5, bytes_total = ?5",
        [&](Statement& st) { st.Bind(4, options_.env->WallSeconds()).Bind(5, total); });
  }
  if (s.ok()) {
    s = Run(&db_, "DELETE FROM files WHERE build = ?1 AND artifact = ?2",
            [&](Statement& st) { st.Bind(1, claim.build).Bind(2, claim.artifact); });
  }
  for (const StagedFile& f : files) {
    if (!s.ok()) break;
    s = Run(&db_,
            "INSERT INTO files (build, artifact, path, size, sha1, sha256) "
            "VALUES (?1, ?2, ?3, ?4, nullif(?5, ''), nullif(?6, '')) "
            "ON CONFLICT (build, path) DO UPDATE SET artifact = excluded.artifact, "
            "  size = excluded.size, sha1 = excluded.sha1, sha256 = excluded.sha256",
            [&](Statement& st) {
              st.Bind(1, claim.build)
                  .Bind(2, claim.artifact)
                  .Bind(3, f.path)
                  .Bind(4, f.size)
                  .Bind(5, f.sha1)
                  .Bind(6, f.sha256);
            });
  }
  if (s.ok()) s = txn.Commit();
  return s;
}

Status StateDb::MarkFailed(const Claim& claim, const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  CheckProcess();
  const int64_t now = options_.env->WallSeconds();
  return UpdateClaimed(&db_, claim, "fail",
                       "state = 'failed', error = ?5, finished_at = ?4, retry_after = ?4 + ?6, "
                       "owner_pid = NULL, owner_start = NULL, owner_lock = NULL, "
                       "lease_expires = NULL",
                       [&](Statement& st) {
                         st.Bind(4, now)
                             .Bind(5, error.empty() ? std::string("unknown error") : error)
                             .Bind(6, options_.retry_delay_seconds);
                       });
}

Status StateDb::Release(const Claim& claim) {
  std::lock_guard<std::mutex> lock(mu_);
  CheckProcess();
  return UpdateClaimed(&db_, claim, "release",
                       "state = 'queued', owner_pid = NULL, owner_start = NULL, "
                       "owner_lock = NULL, lease_expires = NULL, bytes_done = 0",
                       [](Statement&) {});
}

Status StateDb::RequeueDeadOwners(int* requeued) {
  std::lock_guard<std::mutex> lock(mu_);
  CheckProcess();
  Status s = Run(&db_,
                 "UPDATE artifacts SET state = 'queued', owner_pid = NULL, owner_start = NULL, "
                 "  owner_lock = NULL, lease_expires = NULL "
                 "WHERE state = 'staging' AND NOT owner_alive(owner_lock)",
                 {});
  *requeued = s.ok() ? static_cast<int>(db_.Changes()) : 0;
  return s;
}

Status StateDb::Forget(const std::string& build, const std::vector<std::string>& artifacts,
                       const std::function<void(const std::vector<std::string>&)>& remove) {
  std::lock_guard<std::mutex> lock(mu_);
  CheckProcess();
  WriteTransaction txn(&db_);
  Status s = txn.Begin();
  std::vector<std::string> paths;
  for (const std::string& artifact : artifacts) {
    if (!s.ok()) break;
    ArtifactStatus status;
    s = ReadStatus(build, artifact, &status);
    if (s.ok() && status.state == ArtifactState::kStaging) {
      return Status::Failed(build + " " + artifact + " is being staged; try again when it is done");
    }
    if (s.ok() && remove) {
      s = Run(
          &db_, "SELECT path FROM files WHERE build = ?1 AND artifact = ?2",
          [&](Statement& st) { st.Bind(1, build).Bind(2, artifact); },
          [&](const Statement& row) { paths.push_back(row.Text(0)); });
    }
    if (s.ok()) {
      s = Run(&db_, "DELETE FROM artifacts WHERE build = ?1 AND artifact = ?2",
              [&](Statement& st) { st.Bind(1, build).Bind(2, artifact); });
    }
  }
  if (s.ok() && remove) remove(paths);
  if (s.ok()) s = txn.Commit();
  return s;
}

Status StateDb::Summary(StateSummary* summary) {
  CheckProcess();
  *summary = StateSummary{};
  ReadPool::Lease reader = readers_->Acquire();
  return Run(reader.get(),
             "SELECT (SELECT count(*) FROM artifacts WHERE state = 'staging'), "
             "       (SELECT count(*) FROM artifacts WHERE state = 'queued'), "
             "       (SELECT count(*) FROM artifacts WHERE state = 'failed'), "
             "       (SELECT coalesce(sum(bytes_done), 0) FROM artifacts WHERE state = 'staging'), "
             "       (SELECT coalesce(sum(size), 0) FROM files)",
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
