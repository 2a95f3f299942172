// The chaos run's checker: a thread that, while clients and faults run, reads the service's
// state file read-only (invariant 3: no `staging` row of a dead owner outlives its lease;
// invariant 5: integrity_check, opportunistically; builds that disappear are evictions),
// follows the service's log (evictions, worker deaths nobody caused, sanitizer reports) and
// the file-system fault log, and watches the workers of a killed master.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "tests/chaos/context.h"

namespace devserver::chaos {

class Checker {
 public:
  Checker(Context* ctx, std::string log_path);

  // Passes every half second until ctx->stop_checker, then one more.
  void Run();
  // One pass of every check.
  void Pass();
  // PRAGMA integrity_check; records a violation unless "ok". False if it could not be read.
  bool Integrity();

 private:
  void PollState();
  // Evictions rename a build's directory away at once but log only after removing its files
  // (seconds for a big tree): a build directory that vanished or changed its inode between
  // two looks, every 50 ms, dates the eviction.
  void PollBuildDirs();
  void TailLog();
  void TailFsLog();
  void Orphans();
  void OnLogLine(const std::string& line);

  Context* ctx_;
  std::string log_path_;
  uint64_t log_offset_ = 0;
  std::string log_partial_;
  uint64_t fs_log_offset_ = 0;
  std::string fs_log_partial_;
  int64_t last_integrity_ms_ = 0;
  // Builds in the state file at the last poll (build -> created_at) and when that was.
  std::map<std::string, std::string> builds_;
  int64_t builds_at_ms_ = 0;
  std::map<std::string, int> dead_strikes_;  // staging rows of dead owners, by build|artifact|token
  std::set<std::string> reported_;
  std::set<std::string> overruns_;
  std::map<std::string, StagingRow> claims_;  // the last staging row seen, by build|artifact
  int64_t claims_at_ms_ = 0;                  // when (only polls 2 s apart at most compare)
  std::map<int, uint64_t> dir_inodes_;        // build -> inode of its directory (0: none)
  int64_t dirs_at_ms_ = 0;
  std::set<int> stopping_pids_;  // workers that logged "stopping"
};

}  // namespace devserver::chaos
