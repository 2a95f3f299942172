// The real Env, on POSIX system calls.
#include <sys/statvfs.h>

#include <cerrno>
#include <chrono>

#include "fcgi/base/env.h"

namespace devserver {
namespace {

class PosixEnv : public Env {
 public:
  int64_t MonotonicMicros() override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  int64_t WallSeconds() override {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  Status Disk(const std::string& path, DiskSpace* space) override {
    struct statvfs st {};
    if (statvfs(path.c_str(), &st) != 0) return Status::IOError("statvfs " + path, errno);
    space->available = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
    space->total = static_cast<uint64_t>(st.f_blocks) * st.f_frsize;
    return Status::Ok();
  }
};

}  // namespace

Env* Env::Default() {
  static PosixEnv env;
  return &env;
}

}  // namespace devserver
