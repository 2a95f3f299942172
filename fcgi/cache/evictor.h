// Eviction: removes the least recently used builds from the static root until
// the cache is within its budget, never a build that is staging, queued, or was used within
// the grace period.
//
// A build goes in two steps. Under the state's write lock its directory is renamed to a
// hidden name in the static root (nginx refuses names starting with '.') and its rows are
// deleted, so requests see either the whole build staged or nothing of it; then the hidden
// tree is removed with no lock held. A tree left hidden by a crash is removed by the next
// run. Evictions are serialized by the caller (one lock file per host, see Janitor and
// `devserverctl gc`).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fcgi/base/env.h"
#include "fcgi/base/status.h"
#include "fcgi/config/config.h"
#include "fcgi/state/state_db.h"

namespace devserver {

struct EvictionBudget {
  int64_t max_staged_bytes = 0;  // 0 = no limit
  int min_free_percent = 0;      // of the static root's file system; 0 = no floor
  int64_t grace_seconds = 3600;  // builds used more recently stay
  bool all_unused = false;       // evict every build past the grace, whatever the budget
};

// [cache] of the configuration.
EvictionBudget BudgetFromConfig(const Config& config);

// The free space min_free_percent asks for on a file system of disk.total bytes.
int64_t MinFreeBytes(const EvictionBudget& budget, const DiskSpace& disk);
// What eviction must free for the budget to hold now; 0 within budget.
int64_t BytesToFree(const EvictionBudget& budget, int64_t staged_bytes, const DiskSpace& disk);

struct EvictionReport {
  int64_t staged_bytes = 0;                    // recorded before the run
  DiskSpace disk;                              // of the static root, before the run
  int64_t bytes_to_free = 0;                   // what the budget asked for (0: within budget)
  std::vector<state::EvictableBuild> evicted;  // on a dry run: what would be
  int64_t bytes_freed = 0;
  // Asked to free bytes, but every build left is in use or within the grace period.
  bool ShortOfBudget() const { return bytes_freed < bytes_to_free; }
};

class Evictor {
 public:
  Evictor(state::StateDb* db, Env* env, std::string static_root)
      : db_(db), env_(env), static_root_(std::move(static_root)) {}

  // Evicts least recently used builds until the budget holds or no build may go. A dry run
  // only reports what it would evict.
  Status Run(const EvictionBudget& budget, bool dry_run, EvictionReport* report);

  // Removes trees earlier evictions hid but did not remove (the process died); counts them.
  int RemoveLeftovers();

  // The prefix of hidden trees on their way out, in the static root.
  static constexpr const char* kDetachedPrefix = ".evicting-";

 private:
  // Evicts one build: hides its directory and forgets it in one transaction, then removes
  // the tree. `*evicted` is false when the build was used or queued meanwhile.
  Status EvictOne(const state::EvictableBuild& build, int64_t used_before, bool* evicted);

  state::StateDb* db_;
  Env* env_;
  std::string static_root_;
  int detached_ = 0;  // hidden trees named so far, for unique names
};

}  // namespace devserver
