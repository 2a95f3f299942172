// StateDb: the claim protocol. A stager claims an artifact (a fencing token, a lease kept by
// heartbeats), and only that claim may publish it, fail it or give it back. Every step is one
// BEGIN IMMEDIATE transaction, so two stagers never both believe they hold a row.
#include <unordered_map>

#include "fcgi/state/state_db.h"
#include "fcgi/state/state_db_sql.h"

namespace devserver::state {
namespace {

using internal::UpdateClaimed;

constexpr const char* kClaimableWhere =
    "a.state = 'queued' OR (a.state = 'staging' AND (a.lease_expires < ?1 OR NOT "
    "owner_alive(a.owner_lock)))";

// Live claims count against the host's limit on concurrent stagings; dead ones do not.
constexpr const char* kUnderLimit =
    "(SELECT count(*) FROM artifacts WHERE state = 'staging' AND lease_expires >= ?1 "
    "   AND owner_alive(owner_lock)) < ?2";

// The columns that end a claim's ownership.
constexpr const char* kNoOwner =
    "owner_pid = NULL, owner_start = NULL, owner_lock = NULL, lease_expires = NULL";

// Why attempt `attempts` of `artifact`, owned by `pid`, ended without a result.
std::string LostAttempt(const std::string& artifact, int64_t attempts, int64_t pid,
                        bool owner_alive) {
  return artifact + ": attempt " + std::to_string(attempts) + " was lost: worker pid " +
         std::to_string(pid) + (owner_alive ? " stopped renewing its lease" : " died");
}

std::string GaveUp(int64_t attempts, const std::string& last_lost) {
  // "full_payload: gave up after 5 attempts; the last: attempt 5 was lost: ..."
  const size_t colon = last_lost.find(": ");
  const std::string artifact = last_lost.substr(0, colon);
  return artifact + ": gave up after " + std::to_string(attempts) +
         " attempts; the last: " + last_lost.substr(colon + 2);
}

}  // namespace

Status StateDb::ClaimNext(const Owner& owner, int max_staging, std::optional<Claim>* claim,
                          std::vector<Abandoned>* abandoned) {
  std::lock_guard<std::mutex> lock(mu_);
  CheckProcess();
  claim->reset();
  const int64_t now = options_.env->WallSeconds();
  // Polling stagers look first without the write lock; only a hit takes it and re-checks.
  bool any = false;
  Status s = Run(
      &db_,
      std::string("SELECT 1 FROM artifacts a WHERE (") + kClaimableWhere + ") AND " + kUnderLimit +
          " LIMIT 1",
      [&](Statement& st) { st.Bind(1, now).Bind(2, max_staging); },
      [&](const Statement&) { any = true; });
  if (!s.ok() || !any) return s;
  // Each artifact given up on makes room to look again; a few are plenty for one call.
  for (int tries = 0; tries < 8; ++tries) {
    bool more = false;
    s = ClaimOne(owner, max_staging, now, claim, abandoned, &more);
    if (!s.ok() || claim->has_value() || !more) break;
  }
  return s;
}

Status StateDb::ClaimOne(const Owner& owner, int max_staging, int64_t now,
                         std::optional<Claim>* claim, std::vector<Abandoned>* abandoned,
                         bool* more) {
  *more = false;
  WriteTransaction txn(&db_);
  Status s = txn.Begin();
  Claim found;
  bool have = false;
  bool takeover = false;
  bool owner_alive = false;
  int64_t old_pid = 0;
  if (s.ok()) {
    s = Run(
        &db_,
        std::string("SELECT a.build, a.artifact, b.archive_url, a.state = 'staging', a.attempts, "
                    "  coalesce(a.owner_pid, 0), "
                    "  a.state = 'staging' AND coalesce(owner_alive(a.owner_lock), 0) "
                    "FROM artifacts a JOIN builds b USING (build) WHERE (") +
            kClaimableWhere + ") AND " + kUnderLimit +
            " ORDER BY a.priority, a.requested_at LIMIT 1",
        [&](Statement& st) { st.Bind(1, now).Bind(2, max_staging); },
        [&](const Statement& row) {
          found.build = row.Text(0);
          found.artifact = row.Text(1);
          found.archive_url = row.Text(2);
          takeover = row.Int(3) != 0;
          found.attempts = static_cast<int>(row.Int(4));
          old_pid = row.Int(5);
          owner_alive = row.Int(6) != 0;
          have = true;
        });
  }
  if (!s.ok() || !have) return s;  // someone else claimed it between the two looks
  std::optional<std::string> lost;
  if (takeover) lost = LostAttempt(found.artifact, found.attempts, old_pid, owner_alive);
  if (takeover && options_.max_attempts > 0 && found.attempts >= options_.max_attempts) {
    s = Run(&db_,
            std::string("UPDATE artifacts SET state = 'failed', error = ?3, finished_at = ?4, "
                        "  retry_after = ?4 + ?5, error_kind = NULL, ") +
                kNoOwner + " WHERE build = ?1 AND artifact = ?2",
            [&](Statement& st) {
              st.Bind(1, found.build)
                  .Bind(2, found.artifact)
                  .Bind(3, GaveUp(found.attempts, *lost))
                  .Bind(4, now)
                  .Bind(5, options_.retry_delay_seconds);
            });
    if (s.ok()) s = txn.Commit();
    if (s.ok()) {
      if (abandoned != nullptr) abandoned->push_back({found.build, found.artifact});
      *more = true;
    }
    return s;
  }
  s = Run(&db_, "UPDATE counters SET value = value + 1 WHERE name = 'fencing' RETURNING value", {},
          [&](const Statement& row) { found.token = row.Int(0); });
  if (s.ok()) {
    // A lost attempt's cause stays in `error` while the artifact stages again: the operator
    // sees why it restarted, and a give-up names the last one.
    s = Run(
        &db_,
        "UPDATE artifacts SET state = 'staging', owner_pid = ?3, owner_start = ?4, "
        "  owner_lock = ?5, lease_expires = ?6 + ?7, token = ?8, attempts = attempts + 1, "
        "  started_at = ?6, finished_at = NULL, bytes_done = 0, error = ?9 "
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
          if (lost) {
            st.Bind(9, *lost);
          } else {
            st.BindNull(9);
          }
        },
        [&](const Statement& row) { found.attempts = static_cast<int>(row.Int(0)); });
  }
  if (s.ok()) s = txn.Commit();
  if (s.ok()) *claim = std::move(found);
  return s;
}

Status StateDb::HeartbeatAll(const std::vector<Beat>& beats, std::vector<bool>* lost) {
  std::lock_guard<std::mutex> lock(mu_);
  CheckProcess();
  lost->assign(beats.size(), false);
  if (beats.empty()) return Status::Ok();
  const int64_t now = options_.env->WallSeconds();
  WriteTransaction txn(&db_);
  Status s = txn.Begin();
  for (size_t i = 0; s.ok() && i < beats.size(); ++i) {
    const Beat& beat = beats[i];
    s = UpdateClaimed(&db_, beat.claim, "heartbeat",
                      "lease_expires = ?4 + ?5, bytes_done = ?6, "
                      "bytes_total = coalesce(?7, bytes_total)",
                      [&](Statement& st) {
                        st.Bind(4, now)
                            .Bind(5, options_.lease_seconds)
                            .Bind(6, beat.bytes_done)
                            .Bind(7, beat.bytes_total);
                      });
    if (s.code() == Status::Code::kFailed) {
      // Not renewed: lost to another owner, unless the row still carries this claim's token
      // (its stager published, failed or released it a moment ago: finished, not lost).
      bool finished = false;
      s = Run(
          &db_, "SELECT 1 FROM artifacts WHERE build = ?1 AND artifact = ?2 AND token = ?3",
          [&](Statement& st) {
            st.Bind(1, beat.claim.build).Bind(2, beat.claim.artifact).Bind(3, beat.claim.token);
          },
          [&](const Statement&) { finished = true; });
      (*lost)[i] = !finished;
    }
  }
  if (s.ok()) s = txn.Commit();
  return s;
}

Status StateDb::Heartbeat(const Claim& claim, int64_t bytes_done,
                          std::optional<int64_t> bytes_total) {
  std::vector<bool> lost;
  Status s = HeartbeatAll({{claim, bytes_done, bytes_total}}, &lost);
  if (s.ok() && lost[0]) return Status::Failed(internal::ClaimLost("heartbeat", claim));
  return s;
}

Status StateDb::IsLiveClaim(int64_t token, bool* live) {
  // The writer connection: owner_alive() is registered there only, and sweeps that ask this
  // are rare.
  std::lock_guard<std::mutex> lock(mu_);
  CheckProcess();
  *live = false;
  return Run(
      &db_,
      "SELECT 1 FROM artifacts WHERE token = ?1 AND state = 'staging' AND lease_expires >= ?2 "
      "  AND owner_alive(owner_lock) LIMIT 1",
      [&](Statement& st) { st.Bind(1, token).Bind(2, options_.env->WallSeconds()); },
      [&](const Statement&) { *live = true; });
}

Status StateDb::Publish(const Claim& claim, const std::vector<StagedFile>& files,
                        const PlaceFiles& place) {
  std::lock_guard<std::mutex> lock(mu_);
  CheckProcess();
  WriteTransaction txn(&db_);
  Status s = txn.Begin();
  // The claim first: once it is lost, not one file may move.
  bool held = false;
  if (s.ok()) {
    s = Run(
        &db_,
        "SELECT 1 FROM artifacts WHERE build = ?1 AND artifact = ?2 AND token = ?3 "
        "  AND state = 'staging'",
        [&](Statement& st) {
          st.Bind(1, claim.build).Bind(2, claim.artifact).Bind(3, claim.token);
        },
        [&](const Statement&) { held = true; });
  }
  if (!s.ok()) return s;
  if (!held) return Status::Failed(internal::ClaimLost("publish", claim));

  // Paths other staged artifacts of the build list stay as they are.
  std::unordered_map<std::string, StagedFile> listed;
  s = Run(
      &db_,
      "SELECT path, size, coalesce(sha1, ''), coalesce(sha256, ''), coalesce(source_object, ''), "
      "coalesce(source_generation, 0) FROM files WHERE build = ?1 AND artifact != ?2",
      [&](Statement& st) { st.Bind(1, claim.build).Bind(2, claim.artifact); },
      [&](const Statement& row) {
        listed.emplace(row.Text(0), StagedFile{row.Text(0), row.Int(1), row.Text(2), row.Text(3),
                                               std::nullopt, row.Text(4), row.Int(5)});
      });
  if (!s.ok()) return s;
  std::vector<StagedFile> record;
  std::vector<StagedFile> to_place;
  record.reserve(files.size());
  for (const StagedFile& f : files) {
    auto it = listed.find(f.path);
    if (it == listed.end()) {
      to_place.push_back(f);
      record.push_back(f);
    } else {
      record.push_back(it->second);
    }
  }
  if (place) {
    s = place(to_place);
    if (!s.ok()) return s;
  }
  int64_t total = 0;
  for (const StagedFile& f : record) total += f.size;
  s = UpdateClaimed(
      &db_, claim, "publish",
      std::string("state = 'staged', finished_at = ?4, bytes_done = ?5, bytes_total = ?5, "
                  "error = NULL, ") +
          kNoOwner,
      [&](Statement& st) { st.Bind(4, options_.env->WallSeconds()).Bind(5, total); });
  if (s.ok()) {
    s = Run(&db_, "DELETE FROM files WHERE build = ?1 AND artifact = ?2",
            [&](Statement& st) { st.Bind(1, claim.build).Bind(2, claim.artifact); });
  }
  for (const StagedFile& f : record) {
    if (!s.ok()) break;
    s = Run(&db_,
            "INSERT INTO files (build, artifact, path, size, sha1, sha256, source_object, "
            "source_generation) VALUES (?1, ?2, ?3, ?4, nullif(?5, ''), nullif(?6, ''), "
            "nullif(?7, ''), CASE WHEN ?7 = '' THEN NULL ELSE ?8 END)",
            [&](Statement& st) {
              st.Bind(1, claim.build)
                  .Bind(2, claim.artifact)
                  .Bind(3, f.path)
                  .Bind(4, f.size)
                  .Bind(5, f.sha1)
                  .Bind(6, f.sha256)
                  .Bind(7, f.source_object)
                  .Bind(8, f.source_generation);
            });
    if (s.ok() && f.payload) {
      s = internal::InsertPayloadFacts(&db_, claim.build, claim.artifact, f.path, *f.payload);
    }
  }
  if (s.ok()) s = txn.Commit();
  return s;
}

Status StateDb::MarkFailed(const Claim& claim, const std::string& error,
                           const std::string& error_kind) {
  std::lock_guard<std::mutex> lock(mu_);
  CheckProcess();
  const int64_t now = options_.env->WallSeconds();
  return UpdateClaimed(&db_, claim, "fail",
                       std::string("state = 'failed', error = ?5, finished_at = ?4, "
                                   "retry_after = ?4 + ?6, error_kind = nullif(?7, ''), ") +
                           kNoOwner,
                       [&](Statement& st) {
                         st.Bind(4, now)
                             .Bind(5, error.empty() ? std::string("unknown error") : error)
                             .Bind(6, options_.retry_delay_seconds)
                             .Bind(7, error_kind);
                       });
}

Status StateDb::Release(const Claim& claim) {
  std::lock_guard<std::mutex> lock(mu_);
  CheckProcess();
  // Handed back on purpose (a stopping worker), so the attempt does not count.
  return UpdateClaimed(&db_, claim, "release",
                       std::string("state = 'queued', attempts = max(attempts - 1, 0), "
                                   "bytes_done = 0, ") +
                           kNoOwner,
                       [](Statement&) {});
}

Status StateDb::RequeueDeadOwners(int* requeued) {
  std::lock_guard<std::mutex> lock(mu_);
  CheckProcess();
  *requeued = 0;
  const int64_t now = options_.env->WallSeconds();
  WriteTransaction txn(&db_);
  Status s = txn.Begin();
  struct Dead {
    std::string build, artifact;
    int64_t attempts, pid;
  };
  std::vector<Dead> dead;
  if (s.ok()) {
    s = Run(&db_,
            "SELECT build, artifact, attempts, coalesce(owner_pid, 0) FROM artifacts "
            "WHERE state = 'staging' AND NOT owner_alive(owner_lock)",
            {}, [&](const Statement& row) {
              dead.push_back({row.Text(0), row.Text(1), row.Int(2), row.Int(3)});
            });
  }
  for (const Dead& d : dead) {
    if (!s.ok()) break;
    const std::string lost = LostAttempt(d.artifact, d.attempts, d.pid, false);
    const bool give_up = options_.max_attempts > 0 && d.attempts >= options_.max_attempts;
    s = Run(
        &db_,
        std::string("UPDATE artifacts SET state = ?3, error = ?4, "
                    "  finished_at = CASE WHEN ?3 = 'failed' THEN ?5 ELSE finished_at END, "
                    "  retry_after = CASE WHEN ?3 = 'failed' THEN ?5 + ?6 ELSE retry_after END, ") +
            kNoOwner + " WHERE build = ?1 AND artifact = ?2",
        [&](Statement& st) {
          st.Bind(1, d.build)
              .Bind(2, d.artifact)
              .Bind(3, std::string(give_up ? "failed" : "queued"))
              .Bind(4, give_up ? GaveUp(d.attempts, lost) : lost)
              .Bind(5, now)
              .Bind(6, options_.retry_delay_seconds);
        });
    if (s.ok() && !give_up) ++*requeued;
  }
  if (s.ok()) s = txn.Commit();
  if (!s.ok()) *requeued = 0;
  return s;
}

}  // namespace devserver::state
