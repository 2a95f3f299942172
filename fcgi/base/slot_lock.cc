#include "fcgi/base/slot_lock.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>

namespace devserver {
namespace {

// Polled rather than F_OFD_SETLKW, so that a stopping worker does not wait out another's hold.
constexpr std::chrono::milliseconds kPoll{20};

}  // namespace

Status SlotLock::Open(const std::string& path) {
  Unlock();
  // One description per lock: locks of one description do not exclude each other.
  fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  return fd_ >= 0 ? Status::Ok() : Status::IOError("open " + path, errno);
}

bool SlotLock::TryLock(uint64_t slot, int* err) {
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  lock.l_start = static_cast<off_t>(slot);
  lock.l_len = 1;
  if (fcntl(fd_, F_OFD_SETLK, &lock) == 0) return true;
  *err = errno == EAGAIN || errno == EACCES || errno == EINTR ? 0 : errno;
  return false;
}

Status SlotLock::Lock(const std::string& path, uint64_t slot,
                      const std::function<bool()>& cancelled) {
  return Wait(path, slot, 1, cancelled, nullptr);
}

Status SlotLock::LockAny(const std::string& path, uint64_t slots,
                         const std::function<bool()>& cancelled, uint64_t* taken) {
  return Wait(path, 0, slots, cancelled, taken);
}

Status SlotLock::Wait(const std::string& path, uint64_t first, uint64_t count,
                      const std::function<bool()>& cancelled, uint64_t* taken) {
  Status s = Open(path);
  if (!s.ok()) return s;
  for (;;) {
    for (uint64_t slot = first; slot < first + count; ++slot) {
      int err = 0;
      if (TryLock(slot, &err)) {
        if (taken != nullptr) *taken = slot;
        return Status::Ok();
      }
      if (err != 0) {
        Unlock();
        return Status::IOError("lock " + path, err);
      }
    }
    if (cancelled && cancelled()) {
      Unlock();
      return Status::Unavailable("cancelled");
    }
    std::this_thread::sleep_for(kPoll);
  }
}

void SlotLock::Unlock() {
  if (fd_ >= 0) close(fd_);  // releases the lock
  fd_ = -1;
}

}  // namespace devserver
