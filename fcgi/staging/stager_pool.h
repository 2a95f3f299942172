// StagerPool: the threads of one worker that claim queued artifacts and stage them.
//
// Staging belongs to the service, not to a request: requests only record what they want
// and wait, so a client that disconnects, or a request thread that dies, never strands a
// download. Every worker runs up to [staging] max_concurrent stagers; the database enforces
// that limit for the whole host, and hands work to whichever worker has a free stager.
// A worker that drains (a reload) claims nothing new but finishes what it stages; one that
// stops fast hands its stagings back, partial downloads included, for the next stager.
//
// When a staging ends, its stager sweeps the build's dead staging directories: its own, if
// removing it failed (a disk error), and those of dead stagers whose artifact was not staged
// again (the next attempt failed before it swept). A build whose directories could not all be
// removed is swept again at every poll until they are.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "fcgi/staging/stage_job.h"
#include "fcgi/staging/wait_hub.h"

namespace devserver {

class StagerPool {
 public:
  // `owner` is this worker's liveness identity; `threads` stagers start at once.
  StagerPool(const StagingDeps& deps, state::Owner owner, WaitHub* waiters, int threads,
             std::chrono::milliseconds poll);
  ~StagerPool();  // Stop()s and joins
  StagerPool(const StagerPool&) = delete;
  StagerPool& operator=(const StagerPool&) = delete;

  // Work was queued: look for it now rather than at the next poll.
  void Wake();
  // Stagers claim nothing new; what they stage runs to its end.
  void Drain();
  // Stagers give back what they stage (through cancellation) and exit.
  void Stop();
  // Stagers staging right now.
  int busy() const { return busy_.load(); }

 private:
  void Loop();
  // Sweeps `build`, and the builds earlier sweeps could not finish.
  void Sweep(const std::string& build);

  StagingDeps deps_;
  state::Owner owner_;
  WaitHub* waiters_;
  std::chrono::milliseconds poll_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> draining_{false};
  std::atomic<int> busy_{0};
  std::mutex mu_;
  std::condition_variable wake_;
  uint64_t wakes_ = 0;
  std::mutex sweep_mu_;
  std::set<std::string> unswept_;  // builds with dead staging directories still on disk
  std::vector<std::thread> threads_;
};

}  // namespace devserver
