// Env: the operating-system services the service uses, behind one interface.
//
// Following LevelDB's Env, code asks an Env for the clock and the file system instead of
// calling the OS directly, so tests can substitute a full disk or a frozen clock.
#pragma once

#include <cstdint>
#include <string>

#include "fcgi/base/status.h"

namespace devserver {

// Space on one file system, in bytes.
struct DiskSpace {
  uint64_t available = 0;  // to an unprivileged user
  uint64_t total = 0;
};

class Env {
 public:
  virtual ~Env() = default;

  // The process-wide real implementation.
  static Env* Default();

  // Microseconds on a monotonic clock (for durations, never for wall time).
  virtual int64_t MonotonicMicros() = 0;
  // Seconds since the Unix epoch.
  virtual int64_t WallSeconds() = 0;
  // The size of the file system holding `path`, and what is free on it.
  virtual Status Disk(const std::string& path, DiskSpace* space) = 0;
};

}  // namespace devserver
