// Process liveness for stager ownership: a lock file per worker that the kernel releases the
// moment the worker dies (SIGKILL and OOM included), so a dead owner's work is taken over at
// once instead of after its lease runs out.
#pragma once

#include <cstdint>
#include <string>

#include "fcgi/base/status.h"

namespace devserver::state {

// Who owns a claim: enough for an operator to find the process, and for another process to
// tell whether it still lives.
struct Owner {
  int pid = 0;
  int64_t start_ticks = 0;  // /proc/<pid>/stat start time: pid plus this names one process
  std::string lock_path;    // held (flock) for the life of the process
};

// The seam tests use to declare owners dead or alive without killing anything.
class Liveness {
 public:
  virtual ~Liveness() = default;
  virtual bool IsAlive(const std::string& lock_path) = 0;
};

// The real one: an owner is alive while some process holds its lock file.
Liveness* FileLockLiveness();

// This process's liveness lock, taken once after fork() and held until exit. The descriptor
// is close-on-exec, so helper programs a worker runs never keep a dead worker "alive".
class OwnerLock {
 public:
  OwnerLock() = default;
  OwnerLock(const OwnerLock&) = delete;
  OwnerLock& operator=(const OwnerLock&) = delete;
  ~OwnerLock();

  // Creates <dir>/<pid>-<start_ticks>.lock and locks it exclusively.
  Status Acquire(const std::string& dir);
  const Owner& owner() const { return owner_; }

 private:
  int fd_ = -1;
  Owner owner_;
};

// The start time of process `pid` in clock ticks after boot; 0 when it does not exist.
int64_t ProcessStartTicks(int pid);

// Removes lock files in `dir` that nobody holds (their processes are gone); returns how many.
int RemoveDeadOwnerLocks(const std::string& dir);

}  // namespace devserver::state
