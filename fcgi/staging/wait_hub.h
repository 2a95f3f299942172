// WaitHub: how request threads of one worker wait for artifacts to settle.
//
// The database coordinates processes; inside a worker, every thread waiting on any artifact
// shares one poller that reads each awaited build once per interval, however many threads
// wait on it. A local stager that publishes or fails calls Poke(), so waiters in the same
// worker see it at once; waiters in other workers see it within one interval.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "fcgi/base/status.h"
#include "fcgi/state/state_db.h"

namespace devserver {

class WaitHub {
 public:
  WaitHub(state::StateDb* db, std::chrono::milliseconds interval);
  ~WaitHub();  // Shutdown()s
  WaitHub(const WaitHub&) = delete;
  WaitHub& operator=(const WaitHub&) = delete;

  // Blocks until every artifact of `build` is staged, one has failed or is missing (a row
  // removed under us), `deadline` passes, or Shutdown(). Fills the last statuses seen.
  // Unavailable when the deadline passed or the worker is shutting down.
  Status WaitSettled(const std::string& build, const std::vector<std::string>& artifacts,
                     std::chrono::steady_clock::time_point deadline,
                     std::vector<state::ArtifactStatus>* statuses);

  // Something changed: read the database now instead of at the next interval.
  void Poke();
  // Wakes every waiter with Unavailable; later waits return at once.
  void Shutdown();

 private:
  struct Interest {
    std::multiset<std::string> artifacts;  // one entry per waiting thread and artifact
  };
  void PollLoop();

  state::StateDb* db_;
  std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable changed_;  // waiters: a new snapshot is in
  std::condition_variable wake_;     // poller: a waiter arrived, a poke, or shutdown
  struct Snapshot {
    uint64_t round = 0;  // the poll round that read it
    std::map<std::string, state::ArtifactStatus> artifacts;
  };
  std::map<std::string, Interest> interests_;  // by build
  std::map<std::string, Snapshot> snapshot_;   // by build
  // A waiter trusts only a snapshot from a round that started after it registered: rounds
  // already under way may not have read its build at all.
  uint64_t rounds_started_ = 0;
  bool poked_ = false;
  bool stopping_ = false;
  std::thread poller_;
};

// Whether every status is final: staged, failed, or missing.
bool AllSettled(const std::vector<state::ArtifactStatus>& statuses);

}  // namespace devserver
