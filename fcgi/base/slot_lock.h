// Open-file-description locks on single bytes of a shared file, used as host-wide slots: a
// slot is held by one thread of one process at a time (unlike classic POSIX record locks,
// threads of one process exclude each other too), and the kernel drops it if the process dies,
// so a crashed worker never leaves a slot taken.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "fcgi/base/status.h"

namespace devserver {

class SlotLock {
 public:
  SlotLock() = default;
  ~SlotLock() { Unlock(); }
  SlotLock(const SlotLock&) = delete;
  SlotLock& operator=(const SlotLock&) = delete;

  // Waits for byte `slot` of `path` (created if missing). Unavailable("cancelled") once
  // `cancelled` (polled while waiting; may be empty) says so.
  Status Lock(const std::string& path, uint64_t slot, const std::function<bool()>& cancelled);
  // Waits for any one of bytes [0, slots) of `path`; `*taken` is the one held.
  Status LockAny(const std::string& path, uint64_t slots, const std::function<bool()>& cancelled,
                 uint64_t* taken = nullptr);
  void Unlock();
  bool held() const { return fd_ >= 0; }

 private:
  Status Open(const std::string& path);
  Status Wait(const std::string& path, uint64_t first, uint64_t count,
              const std::function<bool()>& cancelled, uint64_t* taken);
  // True when byte `slot` is now held; false when another holds it; errno in *err otherwise.
  bool TryLock(uint64_t slot, int* err);

  int fd_ = -1;
};

}  // namespace devserver
