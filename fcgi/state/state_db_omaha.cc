// StateDb: the Omaha update server's clients: their log, and the one-shot label of their
// next update check. What a client last reported is read from its newest log entries, so
// batches of different workers written out of order still read right.
#include <set>

#include "fcgi/state/state_db.h"
#include "fcgi/state/state_db_sql.h"

namespace devserver::state {

OmahaLogEntry internal::ReadOmahaEntry(const Statement& row) {
  return {row.Text(0),        row.Int(1),         row.Text(2),        row.Text(3), row.Text(4),
          row.OptionalInt(5), row.OptionalInt(6), row.OptionalInt(7), row.Text(8)};
}

Status internal::ProbeNextUpdate(Connection* db, NextUpdateProbe* probe) {
  probe->waiting = false;
  return Run(
      db, "SELECT 1 FROM omaha_next_updates WHERE ip = ?1",
      [&](Statement& st) { st.Bind(1, probe->ip); },
      [&](const Statement&) { probe->waiting = true; });
}

Status StateDb::RecordOmahaEntries(const std::vector<OmahaLogEntry>& entries) {
  if (entries.empty()) return Status::Ok();
  std::lock_guard<std::mutex> lock(mu_);
  CheckProcess();
  WriteTransaction txn(&db_);
  Status s = txn.Begin();
  std::set<std::string> clients;
  for (const OmahaLogEntry& e : entries) {
    if (!s.ok()) break;
    clients.insert(e.ip);
    s = Run(&db_,
            "INSERT INTO omaha_events (ip, at_us, version, track, board, event_type, "
            "  event_result, error_code, previous_version) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            [&](Statement& st) {
              st.Bind(1, e.ip)
                  .Bind(2, e.at_us)
                  .Bind(3, e.version)
                  .Bind(4, e.track)
                  .Bind(5, e.board)
                  .Bind(6, e.event_type)
                  .Bind(7, e.event_result)
                  .Bind(8, e.error_code)
                  .Bind(9, e.previous_version);
            });
  }
  // The oldest go: past the bound of each client written to, then past the total.
  for (const std::string& ip : clients) {
    if (!s.ok()) break;
    s = Run(&db_,
            "DELETE FROM omaha_events WHERE id IN (SELECT id FROM omaha_events WHERE ip = ?1 "
            "  ORDER BY at_us DESC, id DESC LIMIT -1 OFFSET ?2)",
            [&](Statement& st) { st.Bind(1, ip).Bind(2, int64_t{kOmahaLogPerClient}); });
  }
  if (s.ok()) {
    s = Run(&db_,
            "DELETE FROM omaha_events WHERE id IN (SELECT id FROM omaha_events "
            "  ORDER BY at_us DESC, id DESC LIMIT -1 OFFSET ?1)",
            [&](Statement& st) { st.Bind(1, int64_t{kOmahaLogTotal}); });
  }
  if (s.ok()) s = txn.Commit();
  return s;
}

Status StateDb::TakeForcedLabel(const std::string& ip, std::string* label) {
  label->clear();
  CheckProcess();
  {
    // Most clients have none: a read decides that without the write lock.
    NextUpdateProbe probe{ip};
    ReadPool::Lease reader = readers_->Acquire();
    Status s = internal::ProbeNextUpdate(reader.get(), &probe);
    if (!s.ok() || !probe.waiting) return s;
  }
  // Deleted under the write lock: of two workers asking at once, the second finds it gone.
  std::lock_guard<std::mutex> lock(mu_);
  return Run(
      &db_, "DELETE FROM omaha_next_updates WHERE ip = ?1 RETURNING label",
      [&](Statement& st) { st.Bind(1, ip); }, [&](const Statement& row) { *label = row.Text(0); });
}

Status StateDb::SetForcedLabel(const std::string& ip, const std::string& label) {
  std::lock_guard<std::mutex> lock(mu_);
  CheckProcess();
  return Run(
      &db_,
      "INSERT INTO omaha_next_updates (ip, label, set_at) VALUES (?1, ?2, ?3) "
      "ON CONFLICT (ip) DO UPDATE SET label = excluded.label, set_at = excluded.set_at",
      [&](Statement& st) { st.Bind(1, ip).Bind(2, label).Bind(3, options_.env->WallSeconds()); });
}

Status StateDb::GetOmahaClient(const std::string& ip, OmahaClient* client, bool* found) {
  CheckProcess();
  *found = false;
  *client = OmahaClient{};
  ReadPool::Lease reader = readers_->Acquire();
  ReadTransaction txn(reader.get());  // the log and the label from one snapshot
  Status s = txn.Begin();
  if (s.ok()) {
    s = Run(
        reader.get(),
        "SELECT coalesce(version, '') FROM omaha_events WHERE ip = ?1 "
        "ORDER BY at_us DESC, id DESC LIMIT 1",
        [&](Statement& st) { st.Bind(1, ip); },
        [&](const Statement& row) {
          client->last_known_version = row.Text(0);
          *found = true;
        });
  }
  if (s.ok()) {
    s = Run(
        reader.get(),
        "SELECT event_type, event_result FROM omaha_events "
        "WHERE ip = ?1 AND event_type IS NOT NULL ORDER BY at_us DESC, id DESC LIMIT 1",
        [&](Statement& st) { st.Bind(1, ip); },
        [&](const Statement& row) {
          client->last_event_type = row.OptionalInt(0);
          client->last_event_status = row.OptionalInt(1);
        });
  }
  if (s.ok()) {
    s = Run(
        reader.get(), "SELECT label FROM omaha_next_updates WHERE ip = ?1",
        [&](Statement& st) { st.Bind(1, ip); },
        [&](const Statement& row) {
          client->forced_update_label = row.Text(0);
          *found = true;
        });
  }
  if (s.ok()) s = txn.Commit();
  return s;
}

Status StateDb::GetOmahaLog(const std::string& ip, std::vector<OmahaLogEntry>* entries) {
  CheckProcess();
  entries->clear();
  ReadPool::Lease reader = readers_->Acquire();
  return Run(
      reader.get(),
      std::string("SELECT ") + internal::kOmahaEntryColumns +
          " FROM omaha_events WHERE ?1 = '' OR ip = ?1 ORDER BY at_us, id",
      [&](Statement& st) { st.Bind(1, ip); },
      [&](const Statement& row) { entries->push_back(internal::ReadOmahaEntry(row)); });
}

}  // namespace devserver::state
