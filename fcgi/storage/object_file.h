// The local file a download lands in. Errors are IOError values naming the file, so a full
// disk reads "write /srv/x.bin: No space left on device".
//
// Every file-system effect goes through an Env (open, fallocate, write, ftruncate, fsync,
// close), so a FaultInjectionEnv can fail any of them; only sync_file_range (an advisory
// writeback hint whose errors come back at fsync) and lseek are direct calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "fcgi/base/env.h"
#include "fcgi/base/status.h"

namespace devserver::storage {

class ObjectFile {
 public:
  // `env` null: Env::Default().
  explicit ObjectFile(Env* env = nullptr);
  ~ObjectFile();  // closes, never removes: the caller owns a failed download's leftovers
  ObjectFile(const ObjectFile&) = delete;
  ObjectFile& operator=(const ObjectFile&) = delete;

  // Creates or truncates `path`.
  Status Open(const std::string& path);
  // Opens `path` (creating it if missing) keeping what it holds; appends go after it, and
  // size() counts it.
  Status OpenToKeep(const std::string& path);
  // Allocates room for `size` bytes up front, so a full disk fails the download before the
  // transfer rather than after gigabytes of it. File systems without fallocate are fine.
  Status Reserve(uint64_t size);
  // Writes all of `data` at the end.
  Status Append(const char* data, size_t n);
  // Accounts for `n` bytes that were written at the end through fd() directly.
  void Advanced(uint64_t n);
  // Empties the file to start over.
  Status Truncate();
  // fsync, then close: only then are the bytes known to be on disk.
  Status SyncAndClose();

  Env* env() const { return env_; }
  int fd() const { return fd_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  void StartWriteback();

  Env* const env_;
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  uint64_t writeback_from_ = 0;  // start of the bytes not yet handed to writeback
};

}  // namespace devserver::storage
