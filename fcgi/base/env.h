// Env: the operating-system services the service uses, behind one interface.
//
// Following LevelDB's Env, code asks an Env for the clock and the file system instead of
// calling the OS directly, so tests can substitute a full disk or a frozen clock.
#pragma once

#include <cstdint>
#include <string>

#include "fcgi/base/status.h"

namespace devserver {

class Env {
 public:
  virtual ~Env() = default;

  // The process-wide real implementation.
  static Env* Default();

  // Microseconds on a monotonic clock (for durations, never for wall time).
  virtual int64_t MonotonicMicros() = 0;
  // Seconds since the Unix epoch.
  virtual int64_t WallSeconds() = 0;
  // Bytes available to an unprivileged user on the file system holding `path`.
  virtual Status FreeDiskBytes(const std::string& path, uint64_t* bytes) = 0;
};

}  // namespace devserver
