// The state one chaos run shares between its threads: the options, the model of the fake GCS,
// the journal, where the service is, and the read-only view of its state file.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "tests/chaos/journal.h"
#include "tests/chaos/world.h"
#include "tests/integration/service_fixture.h"

namespace devserver::chaos {

struct Options {
  int seconds = 60;
  uint64_t seed = 1;
  int workers = 3;  // the pool's worker processes
  int builds = 12;
  int clients = 8;  // client threads
  bool keep_dir = false;
  enum class FsFaults { kAuto, kOn, kOff } fs_faults = FsFaults::kAuto;
  // Files in the autotest tree of every sixth build: about 5 s of unpacking on 2 busy cores,
  // as long as the lease.
  int heavy_files = 12000;
  double fault_interval_s = 1.5;  // mean time between faults
  int cache_mib = 0;              // --max-cache-size; 0: a third of every build's staged bytes

  // The service's knobs (README "Configuration"), short so that faults play out in seconds.
  int lease_s = 5;
  int max_wait_s = 20;
  int stall_timeout_s = 3;
  int retry_delay_s = 3;
  int max_attempts = 3;
  int max_concurrent = 6;
  int drain_timeout_s = 30;  // the default; above max_wait so a reload never cuts a waiter
  int client_timeout_s = 60;
};

// A row of the artifacts table in state `staging`.
struct StagingRow {
  std::string build;  // folder
  std::string artifact;
  int64_t owner_pid = 0;
  int64_t owner_start = 0;
  int64_t lease_expires = 0;
  int64_t token = 0;
  int64_t started_at = 0;  // when the current claim was taken
  int64_t now = 0;         // the database's unixepoch() when read
};

// Read-only queries of the service's state file (README "Querying state"); a fresh
// connection per call, so nothing is held across restarts of the service.
class StateReader {
 public:
  explicit StateReader(std::string path) : path_(std::move(path)) {}
  // Every row of `sql` as text columns; false (with *error) when the query failed, e.g. on a
  // hot journal a killed writer left, which only a writer may roll back.
  bool Query(const std::string& sql, std::vector<std::vector<std::string>>* rows,
             std::string* error) const;
  bool StagingRows(std::vector<StagingRow>* rows, std::string* error) const;

 private:
  std::string path_;
};

// Whether process `pid` runs and is the one that started at `start` (clock ticks after boot,
// field 22 of /proc/<pid>/stat, as the state file's owner_start); a zombie is dead.
bool ProcessAlive(int64_t pid, int64_t start = -1);

struct Context {
  Options opt;
  World* world = nullptr;
  Journal journal;
  // Only the fault thread and main() call it (the fixture is not thread-safe); the others use
  // port, up and the paths below.
  testing::ServiceProcess* service = nullptr;
  std::atomic<int> port{0};
  std::atomic<bool> up{false};
  std::atomic<int64_t> up_since_ms{0};
  std::atomic<bool> stop_clients{false};
  std::atomic<bool> stop_faults{false};
  std::atomic<bool> stop_checker{false};
  std::atomic<bool> fatal{false};  // the service cannot be brought back: end the run
  std::string state_dir;
  std::string static_root;
  std::string cache_size;  // the --max-cache-size value, for gc too
  bool fs_faults = false;
  std::string fs_rules_path;  // --test-faults=PATH; fired faults go to PATH.log
  StateReader state{""};

  std::mutex pids_mu;
  std::set<pid_t> killed_pids;                     // every pid the run SIGKILLed on purpose
  std::vector<std::pair<pid_t, int64_t>> orphans;  // workers of a killed master, deadline ms

  // The (build index, artifact) pairs staging now, from the state file; false if unreadable.
  bool StagingNow(std::set<std::pair<int, std::string>>* staging, pid_t only_owner = 0) const;
};

}  // namespace devserver::chaos
