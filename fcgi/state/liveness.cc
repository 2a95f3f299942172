#include "fcgi/state/liveness.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "fcgi/base/fs.h"

namespace devserver::state {
namespace {

class FileLock : public Liveness {
 public:
  bool IsAlive(const std::string& lock_path) override {
    int fd = open(lock_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;  // no lock file: its owner is gone and was cleaned up
    // A shared lock is refused exactly while the owner holds its exclusive one. The lock is
    // per open file description, so this works even when the owner is this very process.
    bool alive = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd);
    return alive;
  }
};

}  // namespace

Liveness* FileLockLiveness() {
  static FileLock liveness;
  return &liveness;
}

int64_t ProcessStartTicks(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
  size_t close_paren = text.rfind(')');
  if (close_paren == std::string::npos) return 0;
  std::istringstream fields(text.substr(close_paren + 2));
  std::string field;
  // After ')' come fields 3..; the start time is field 22.
  for (int i = 3; i <= 22; ++i) {
    if (!(fields >> field)) return 0;
  }
  return std::stoll(field);
}

OwnerLock::~OwnerLock() {
  if (fd_ >= 0) {
    unlink(owner_.lock_path.c_str());
    close(fd_);
  }
}

Status OwnerLock::Acquire(const std::string& dir) {
  Status s = MakeDirectories(dir, 0755);
  if (!s.ok()) return s;
  owner_.pid = getpid();
  owner_.start_ticks = ProcessStartTicks(owner_.pid);
  owner_.lock_path =
      dir + "/" + std::to_string(owner_.pid) + "-" + std::to_string(owner_.start_ticks) + ".lock";
  fd_ = open(owner_.lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) return Status::IOError("open " + owner_.lock_path, errno);
  if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    Status err = Status::IOError("lock " + owner_.lock_path, errno);
    close(fd_);
    fd_ = -1;
    return err;
  }
  return Status::Ok();
}

int RemoveDeadOwnerLocks(const std::string& dir) {
  int removed = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() != ".lock") continue;
    // A process creates its file before it locks it: a free lock of a process that still
    // exists is one being taken, not a dead one.
    int pid = 0;
    long long start = 0;
    if (std::sscanf(entry.path().stem().c_str(), "%d-%lld", &pid, &start) == 2 &&
        ProcessStartTicks(pid) == start) {
      continue;
    }
    if (!FileLockLiveness()->IsAlive(entry.path())) {
      if (std::filesystem::remove(entry.path(), ec)) ++removed;
    }
  }
  return removed;
}

}  // namespace devserver::state
