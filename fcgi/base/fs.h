// Small file-system helpers shared by the pool and the launcher.
#pragma once

#include <sys/types.h>

#include <string>

#include "fcgi/base/status.h"

namespace devserver {

// mkdir -p: creates `path` and its missing parents with `mode`; existing directories are fine.
// Through Env::Default(); code that stages or publishes uses MakeDirectories(Env*, ...) of
// env.h with the Env it was given, so fault injection reaches it.
Status MakeDirectories(const std::string& path, mode_t mode);

// Writes `contents` to `path` through a temporary file and rename(2), so a reader sees the
// old file or the whole new one.
Status WriteFileAtomically(const std::string& path, const std::string& contents);

// The whole file, or an IOError naming it.
Status ReadFile(const std::string& path, std::string* contents);

// An exclusive flock(2) on a file, held until the object goes away or the process dies: one
// holder among processes for work only one should do at a time.
class ExclusiveFileLock {
 public:
  ExclusiveFileLock() = default;
  ExclusiveFileLock(const ExclusiveFileLock&) = delete;
  ExclusiveFileLock& operator=(const ExclusiveFileLock&) = delete;
  ~ExclusiveFileLock();

  // Takes the lock on `path`, creating the file. With `wait` false, returns at once with
  // `*held` false when another holds it.
  Status Lock(const std::string& path, bool wait, bool* held);

 private:
  int fd_ = -1;
};

}  // namespace devserver
