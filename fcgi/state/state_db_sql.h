// What the files of StateDb share: reading status rows, queries over lists of names, and
// updates fenced by a claim's token. Internal to state/.
#pragma once

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "fcgi/state/run_statement.h"
#include "fcgi/state/state_db.h"

namespace devserver::state::internal {

ArtifactState ParseState(const std::string& text);

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
inline constexpr const char* kStatusColumns =
    "state, coalesce(error, ''), attempts, bytes_done, bytes_total, token, "
    "coalesce(error_kind, '')";
inline constexpr int kStatusColumnCount = 7;

// A file several artifacts list is counted once: at the row of the artifact first in name
// order. For a query over `files f`.
inline constexpr const char* kFirstListing =
    "NOT EXISTS (SELECT 1 FROM files g WHERE g.build = f.build AND g.path = f.path "
    "AND g.artifact < f.artifact)";

// The payloads row of one file (its files row must exist).
Status InsertPayloadFacts(Connection* db, const std::string& build, const std::string& artifact,
                          const std::string& path, const PayloadFacts& facts);

// The columns of an omaha_events row, in the order ReadOmahaEntry expects.
inline constexpr const char* kOmahaEntryColumns =
    "ip, at_us, coalesce(version, ''), coalesce(track, ''), coalesce(board, ''), event_type, "
    "event_result, error_code, coalesce(previous_version, '')";
OmahaLogEntry ReadOmahaEntry(const Statement& row);  // state_db_omaha.cc

// Sets probe->waiting when omaha_next_updates holds a label for probe->ip (state_db_omaha.cc).
Status ProbeNextUpdate(Connection* db, NextUpdateProbe* probe);

// Fills the fields of `status` other than its name from kStatusColumns starting at `first`.
void ReadStatusColumns(const Statement& row, int first, ArtifactStatus* status);

// An UPDATE of the claim's row that takes effect only while the claim holds it: `set` is the
// SET list, whose parameters start at ?4 and are bound by `bind` (?1 build, ?2 artifact,
// ?3 token are bound here). Failed "claim lost" when another owner holds the row.
Status UpdateClaimed(Connection* db, const Claim& claim, const std::string& what,
                     const std::string& set, const Binder& bind);

// The message of a claim that another owner holds now.
std::string ClaimLost(const std::string& what, const Claim& claim);

}  // namespace devserver::state::internal
