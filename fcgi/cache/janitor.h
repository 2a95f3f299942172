// Janitor: a thread in every worker that keeps the cache within its budget ([cache]).
//
// Every interval each worker's janitor tries the host's eviction lock without waiting; the
// one that gets it removes leftovers of interrupted evictions and runs the Evictor, the
// others skip the round. `devserverctl gc` takes the same lock, so evictions never overlap.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "fcgi/cache/evictor.h"

namespace devserver {

class Janitor {
 public:
  // Starts the thread; its first round runs at once (a restart may find the disk full).
  Janitor(Evictor* evictor, const EvictionBudget& budget, std::string lock_path,
          std::chrono::milliseconds interval);
  ~Janitor();
  Janitor(const Janitor&) = delete;
  Janitor& operator=(const Janitor&) = delete;

  // Ends the thread after the round under way, if any.
  void Stop();

  // Rounds finished so far, whether or not this janitor got the lock.
  int rounds() const { return rounds_.load(); }

 private:
  void Loop();
  void Round();

  Evictor* evictor_;
  EvictionBudget budget_;
  std::string lock_path_;
  std::chrono::milliseconds interval_;
  bool was_short_ = false;  // the last round could not meet the budget (warned once)
  std::atomic<int> rounds_{0};

  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

// The host's eviction lock file under [paths] state_dir.
std::string EvictionLockPath(const Config& config);

}  // namespace devserver
