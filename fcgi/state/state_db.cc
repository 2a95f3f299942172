// StateDb: opening the shared file, the process guard, and the reads of artifact states.
// Requests and forgetting: state_db_requests.cc; claims: state_db_claims.cc; listings:
// state_db_listings.cc; reports: state_db_reports.cc; eviction: state_db_eviction.cc.
#include "fcgi/state/state_db.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <unordered_map>
#include <utility>

#include "fcgi/base/log.h"
#include "fcgi/state/migrations.h"
#include "fcgi/state/state_db_sql.h"

namespace devserver::state {
namespace internal {

ArtifactState ParseState(const std::string& text) {
  if (text == "queued") return ArtifactState::kQueued;
  if (text == "staging") return ArtifactState::kStaging;
  if (text == "staged") return ArtifactState::kStaged;
  if (text == "failed") return ArtifactState::kFailed;
  return ArtifactState::kMissing;
}

void ReadStatusColumns(const Statement& row, int first, ArtifactStatus* status) {
  status->state = ParseState(row.Text(first));
  status->error = row.Text(first + 1);
  status->attempts = static_cast<int>(row.Int(first + 2));
  status->bytes_done = row.Int(first + 3);
  status->bytes_total = row.OptionalInt(first + 4);
  status->token = row.Int(first + 5);
  status->error_kind = row.Text(first + 6);
}

Status InsertPayloadFacts(Connection* db, const std::string& build, const std::string& artifact,
                          const std::string& path, const PayloadFacts& facts) {
  return Run(db,
             "INSERT INTO payloads (build, artifact, path, sha256_hex, metadata_size, is_delta, "
             "  version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
             [&](Statement& st) {
               st.Bind(1, build)
                   .Bind(2, artifact)
                   .Bind(3, path)
                   .Bind(4, facts.sha256_hex)
                   .Bind(5, facts.metadata_size >= 0 ? std::optional<int64_t>(facts.metadata_size)
                                                     : std::nullopt)
                   .Bind(6, int64_t{facts.is_delta ? 1 : 0})
                   .Bind(7, facts.version);
             });
}

std::string ClaimLost(const std::string& what, const Claim& claim) {
  return what + " " + claim.build + " " + claim.artifact + ": claim " +
         std::to_string(claim.token) + " lost to another owner";
}

Status UpdateClaimed(Connection* db, const Claim& claim, const std::string& what,
                     const std::string& set, const Binder& bind) {
  Status s = Run(db,
                 "UPDATE artifacts SET " + set +
                     " WHERE build = ?1 AND artifact = ?2 AND token = ?3 AND state = 'staging'",
                 [&](Statement& st) {
                   st.Bind(1, claim.build).Bind(2, claim.artifact).Bind(3, claim.token);
                   bind(st);
                 });
  if (s.ok() && db->Changes() == 0) return Status::Failed(ClaimLost(what, claim));
  return s;
}

}  // namespace internal

namespace {

using internal::kStatusColumns;
using internal::NamesQuery;
using internal::ReadStatusColumns;

// owner_alive(lock_path): the SQL face of Liveness, so a claim can test ownership inside the
// same statement that selects the row.
void OwnerAliveFunction(sqlite3_context* context, int, sqlite3_value** args) {
  auto* liveness = static_cast<Liveness*>(sqlite3_user_data(context));
  const unsigned char* path = sqlite3_value_text(args[0]);
  bool alive = path != nullptr && liveness->IsAlive(reinterpret_cast<const char*>(path));
  sqlite3_result_int(context, alive ? 1 : 0);
}

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
                             std::vector<std::vector<StagedFile>>* files, NextUpdateProbe* probe) {
  // Files are joined only to staged artifacts: nothing else has its files checked on disk.
  // The build's last use comes along, so that a read that counts as use writes only when
  // the recorded use is stale.
  static const NamesQuery kQuery(
      std::string("SELECT a.artifact, ") + kStatusColumns +
      ", f.path, f.size, coalesce(f.sha1, ''), coalesce(f.sha256, ''), b.last_used_at, "
      "  p.sha256_hex, p.metadata_size, p.is_delta, p.version "
      "FROM artifacts a JOIN builds b ON b.build = a.build LEFT JOIN files f "
      "  ON a.state = 'staged' AND f.build = a.build AND f.artifact = a.artifact "
      "LEFT JOIN payloads p "
      "  ON p.build = f.build AND p.artifact = f.artifact AND p.path = f.path "
      "WHERE a.build = ?1 AND a.artifact = ?");
  constexpr int kFile = 1 + internal::kStatusColumnCount;  // the file's first column
  CheckProcess();
  struct Found {
    bool seen = false;
    ArtifactStatus status;
    std::vector<StagedFile> files;
  };
  std::unordered_map<std::string, Found> found;
  const int64_t stale = options_.env->WallSeconds() - kLastUsedResolutionSeconds;
  bool use_stale = false;
  Status s;
  {
    ReadPool::Lease reader = readers_->Acquire();
    ReadTransaction read(reader.get());
    if (probe != nullptr) {
      s = read.Begin();
      if (s.ok()) s = internal::ProbeNextUpdate(reader.get(), probe);
    }
    if (s.ok()) {
      s = kQuery.Run(reader.get(), build, artifacts, [&](const Statement& row) {
        Found& entry = found[row.Text(0)];
        if (!entry.seen) ReadStatusColumns(row, 1, &entry.status);  // the same on each file's row
        entry.seen = true;
        if (!row.IsNull(kFile)) {
          entry.files.push_back(
              {row.Text(kFile), row.Int(kFile + 1), row.Text(kFile + 2), row.Text(kFile + 3)});
          if (!row.IsNull(kFile + 5)) {
            entry.files.back().payload =
                PayloadFacts{row.Text(kFile + 5), row.OptionalInt(kFile + 6).value_or(-1),
                             row.Int(kFile + 7) != 0, row.Text(kFile + 8)};
          }
        }
        use_stale = use_stale || row.Int(kFile + 4) < stale;
      });
    }
    if (s.ok()) s = read.Commit();  // ends the probe's transaction; nothing without one
  }
  statuses->clear();
  files->clear();
  if (!s.ok()) return s;
  if (use_stale) {
    s = MarkBuildUsed(build);
    if (!s.ok()) DS_LOG(kWarning) << "recording use of " << build << ": " << s.message();
  }
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

Status StateDb::MarkBuildUsed(const std::string& build) {
  CheckProcess();
  const int64_t now = options_.env->WallSeconds();
  const int64_t stale = now - kLastUsedResolutionSeconds;
  bool due = false;
  {
    ReadPool::Lease reader = readers_->Acquire();
    Status s = Run(
        reader.get(), "SELECT 1 FROM builds WHERE build = ?1 AND last_used_at < ?2",
        [&](Statement& st) { st.Bind(1, build).Bind(2, stale); },
        [&](const Statement&) { due = true; });
    if (!s.ok() || !due) return s;
  }
  std::lock_guard<std::mutex> lock(mu_);
  return Run(&db_, "UPDATE builds SET last_used_at = ?2 WHERE build = ?1 AND last_used_at < ?3",
             [&](Statement& st) { st.Bind(1, build).Bind(2, now).Bind(3, stale); });
}

}  // namespace devserver::state
