// StateDb: the live status page's read: recent builds with their artifacts' progress, the
// head of the queue, and the newest update client log entries.
#include "fcgi/state/state_db.h"
#include "fcgi/state/state_db_sql.h"

namespace devserver::state {

using internal::kStatusColumns;

namespace {

// Builds are ordered by their last use, which has minute resolution: the name breaks ties,
// so rows of a page that updates itself do not swap places from one poll to the next.
//
// A staging row's lease is renewed, with the progress its stager reported, by every
// heartbeat: lease_expires less the lease is when bytes_done was recorded.
std::string BuildsQuery() {
  return std::string(
             "SELECT b.build, b.archive_url, b.last_used_at, a.artifact, a.requested_at, "
             "  a.started_at, "
             "  CASE WHEN a.state = 'staging' THEN a.lease_expires - ?2 END, a.finished_at, ") +
         kStatusColumns +
         " FROM (SELECT build, archive_url, last_used_at FROM builds "
         "       ORDER BY last_used_at DESC, build LIMIT ?1) b "
         "LEFT JOIN artifacts a ON a.build = b.build "
         "ORDER BY b.last_used_at DESC, b.build, a.artifact";
}

}  // namespace

Status StateDb::LiveStatus(const LiveStatusLimits& limits, LiveStatusSnapshot* snapshot) {
  CheckProcess();
  *snapshot = LiveStatusSnapshot{};
  ReadPool::Lease reader = readers_->Acquire();
  ReadTransaction txn(reader.get());  // totals, builds, queue and log agree with each other
  Status s = txn.Begin();
  if (s.ok()) s = SummaryOn(reader.get(), &snapshot->totals);
  if (s.ok()) {
    constexpr int kFirstStatusColumn = 8;  // kStatusColumns come last
    s = Run(
        reader.get(), BuildsQuery(),
        [&](Statement& st) { st.Bind(1, limits.builds).Bind(2, options_.lease_seconds); },
        [&](const Statement& row) {
          std::vector<BuildProgress>& builds = snapshot->builds;
          if (builds.empty() || builds.back().build != row.Text(0)) {
            builds.push_back({row.Text(0), row.Text(1), row.Int(2), {}});
          }
          if (row.IsNull(3)) return;  // a build whose artifacts were all cleaned
          ArtifactProgress a;
          a.status.artifact = row.Text(3);
          a.requested_at = row.Int(4);
          a.started_at = row.OptionalInt(5);
          a.updated_at = row.OptionalInt(6);
          a.finished_at = row.OptionalInt(7);
          internal::ReadStatusColumns(row, kFirstStatusColumn, &a.status);
          builds.back().artifacts.push_back(std::move(a));
        });
  }
  if (s.ok()) {
    s = Run(
        reader.get(),
        "SELECT build, artifact, priority, requested_at FROM artifacts WHERE state = 'queued' "
        "ORDER BY priority, requested_at, build, artifact LIMIT ?1",
        [&](Statement& st) { st.Bind(1, limits.queue); },
        [&](const Statement& row) {
          snapshot->queue.push_back(
              {row.Text(0), row.Text(1), static_cast<int>(row.Int(2)), row.Int(3)});
        });
  }
  if (s.ok()) {
    s = Run(
        reader.get(),
        std::string("SELECT ") + internal::kOmahaEntryColumns +
            " FROM omaha_events ORDER BY at_us DESC, id DESC LIMIT ?1",
        [&](Statement& st) { st.Bind(1, limits.omaha_events); },
        [&](const Statement& row) {
          snapshot->omaha_events.push_back(internal::ReadOmahaEntry(row));
        });
  }
  if (s.ok()) s = txn.Commit();
  return s;
}

}  // namespace devserver::state
