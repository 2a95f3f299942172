// Env: the operating-system services the service uses, behind one interface.
//
// Following LevelDB's Env, code asks an Env for the clock and the file system instead of
// calling the OS directly, so tests can substitute a frozen clock, a full disk or a failing
// one. Staging and publishing code (downloads, extraction, the files they create, the
// directories they make, rename into the static root) MUST make its file-system effects
// through an Env it was given: that is the only way a test can make a particular fsync fail
// with EIO, a write fail with ENOSPC or a rename fail with EXDEV without root or a loop
// device, in a unit test (FaultInjectionEnv::Add) and in the running multi-process service
// (FaultInjectionEnv's rules file). See fault_env.h.
//
// What stays a direct system call, by design:
//   - reads of sources (the archive being unpacked, the local store's objects, config files):
//     they create nothing, and their failures are not the disk faults under test;
//   - metadata and hints on a descriptor the Env opened: fchmod, futimens, fstat/fstatat,
//     lseek, sync_file_range (advisory writeback; its errors come back at Sync);
//   - closing descriptors that carry no written data (directories opened to walk a tree, a
//     file being abandoned on an error path): there is nothing left to report;
//   - copy_file_range in the local store, only when the store runs on Env::Default() (any
//     other Env gets the buffered copy, so every byte goes through Write).
//
// Every file-system call returns Status::IOError("<verb> <path>", errno), e.g.
//   "write /x/y.bin: No space left on device", "fsync /x/y: Input/output error",
//   "rename /a to /b: Invalid cross-device link".
// `path` is always passed, also to the *At calls that work relative to a directory
// descriptor: it names the file in messages and is what fault rules match.
//
// Telling failures apart. Status carries the text only; the calls whose callers must branch
// on the kind of failure say it with an out-parameter instead:
//   - MakeDirectory/MakeDirectoryAt: EEXIST is success, with *created false;
//   - RemoveFile/RemoveTree: a missing path is success;
//   - OpenAt, Symlink, SymlinkAt: `err` (may be null) receives the errno of a failure (0 on
//     success), so O_EXCL's or symlink's EEXIST ("already exists") and O_NOFOLLOW's
//     ELOOP/ENOTDIR stay distinguishable from other failures.
// A caller that words a failure its own way ("build.tgz: writing a/b.bin: <reason>") takes
// the reason with FailureReason().
//
// The file-system calls are virtual with the real POSIX behaviour as their default, so an
// Env that only substitutes the clock (a test's manual clock) still reaches the real disk. An
// EnvWrapper forwards everything to another Env.
#pragma once

#include <sys/types.h>

#include <cstddef>
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
  // The size of the file system holding `path`, and what is free on it ("statvfs <path>").
  virtual Status Disk(const std::string& path, DiskSpace* space) = 0;

  // ---- Files. The descriptors are plain fds; the caller owns them and ends them with Close.

  // open(2). *fd is -1 on failure. ("open <path>")
  virtual Status Open(const std::string& path, int flags, mode_t mode, int* fd);
  // openat(2) of `name` relative to `dir_fd`; `path` is the full path, for messages and
  // fault rules. `err`, when not null, receives the errno of a failure, 0 on success.
  virtual Status OpenAt(int dir_fd, const std::string& name, const std::string& path, int flags,
                        mode_t mode, int* fd, int* err);
  // Writes all `n` bytes at the file offset, retrying EINTR and short writes. ("write <path>")
  virtual Status Write(int fd, const std::string& path, const void* data, size_t n);
  // pwrite(2) of all `n` bytes at `offset`, retrying EINTR and short writes. ("write <path>")
  virtual Status WriteAt(int fd, const std::string& path, const void* data, size_t n,
                         uint64_t offset);
  // Reserves `size` bytes from offset 0 without changing the file's length
  // (FALLOC_FL_KEEP_SIZE). File systems that cannot (EOPNOTSUPP, ENOSYS, EINVAL) are fine.
  // ("fallocate <path>")
  virtual Status Allocate(int fd, const std::string& path, uint64_t size);
  // ftruncate(2). ("truncate <path>")
  virtual Status Truncate(int fd, const std::string& path, uint64_t size);
  // fsync(2). ("fsync <path>")
  virtual Status Sync(int fd, const std::string& path);
  // syncfs(2) of the file system holding `path`. ("syncfs <path>")
  virtual Status SyncFileSystem(const std::string& path);
  // Opens `path` read-only, fsyncs and closes it: for a directory after entries changed in
  // it, or a file already written and closed. ("open <path>", "fsync <path>")
  virtual Status SyncPath(const std::string& path);
  // close(2). The descriptor is gone afterwards even when this fails (as with close(2)); a
  // failure is a written file's last chance to report EIO or ENOSPC. ("close <path>")
  virtual Status Close(int fd, const std::string& path);
  // rename(2). ("rename <from> to <to>")
  virtual Status Rename(const std::string& from, const std::string& to);
  // mkdir(2), one level. Something already at `path` (EEXIST) is success with *created
  // false; `created` may be null. ("mkdir <path>")
  virtual Status MakeDirectory(const std::string& path, mode_t mode, bool* created);
  // mkdirat(2) of `name` relative to `dir_fd`, as MakeDirectory.
  virtual Status MakeDirectoryAt(int dir_fd, const std::string& name, const std::string& path,
                                 mode_t mode, bool* created);
  // symlink(2): creates `path` pointing at `target`. EEXIST is a failure; `err` (may be
  // null) receives the errno of a failure, 0 on success. ("symlink <path>")
  virtual Status Symlink(const std::string& target, const std::string& path, int* err);
  // symlinkat(2) of `name` relative to `dir_fd`, as Symlink.
  virtual Status SymlinkAt(const std::string& target, int dir_fd, const std::string& name,
                           const std::string& path, int* err);
  // unlink(2); a missing file is success. ("remove <path>")
  virtual Status RemoveFile(const std::string& path);
  // rm -r; a missing path is success. ("remove <path>")
  virtual Status RemoveTree(const std::string& path);
};

// Forwards every call to `target` (LevelDB's EnvWrapper): subclasses override only what they
// change.
class EnvWrapper : public Env {
 public:
  explicit EnvWrapper(Env* target) : target_(target) {}
  Env* target() const { return target_; }

  int64_t MonotonicMicros() override { return target_->MonotonicMicros(); }
  int64_t WallSeconds() override { return target_->WallSeconds(); }
  Status Disk(const std::string& path, DiskSpace* space) override {
    return target_->Disk(path, space);
  }
  Status Open(const std::string& path, int flags, mode_t mode, int* fd) override {
    return target_->Open(path, flags, mode, fd);
  }
  Status OpenAt(int dir_fd, const std::string& name, const std::string& path, int flags,
                mode_t mode, int* fd, int* err) override {
    return target_->OpenAt(dir_fd, name, path, flags, mode, fd, err);
  }
  Status Write(int fd, const std::string& path, const void* data, size_t n) override {
    return target_->Write(fd, path, data, n);
  }
  Status WriteAt(int fd, const std::string& path, const void* data, size_t n,
                 uint64_t offset) override {
    return target_->WriteAt(fd, path, data, n, offset);
  }
  Status Allocate(int fd, const std::string& path, uint64_t size) override {
    return target_->Allocate(fd, path, size);
  }
  Status Truncate(int fd, const std::string& path, uint64_t size) override {
    return target_->Truncate(fd, path, size);
  }
  Status Sync(int fd, const std::string& path) override { return target_->Sync(fd, path); }
  Status SyncFileSystem(const std::string& path) override { return target_->SyncFileSystem(path); }
  Status SyncPath(const std::string& path) override { return target_->SyncPath(path); }
  Status Close(int fd, const std::string& path) override { return target_->Close(fd, path); }
  Status Rename(const std::string& from, const std::string& to) override {
    return target_->Rename(from, to);
  }
  Status MakeDirectory(const std::string& path, mode_t mode, bool* created) override {
    return target_->MakeDirectory(path, mode, created);
  }
  Status MakeDirectoryAt(int dir_fd, const std::string& name, const std::string& path, mode_t mode,
                         bool* created) override {
    return target_->MakeDirectoryAt(dir_fd, name, path, mode, created);
  }
  Status Symlink(const std::string& target, const std::string& path, int* err) override {
    return target_->Symlink(target, path, err);
  }
  Status SymlinkAt(const std::string& target, int dir_fd, const std::string& name,
                   const std::string& path, int* err) override {
    return target_->SymlinkAt(target, dir_fd, name, path, err);
  }
  Status RemoveFile(const std::string& path) override { return target_->RemoveFile(path); }
  Status RemoveTree(const std::string& path) override { return target_->RemoveTree(path); }

 private:
  Env* const target_;
};

// mkdir -p through `env`: creates `path` and its missing parents with `mode`; existing
// directories are fine, anything else at `path` is InvalidArgument.
Status MakeDirectories(Env* env, const std::string& path, mode_t mode);

// The "<reason>" (strerror's text) of an Env failure "<verb> <path>: <reason>", for callers
// that word the failure their own way; the whole message when there is no ": " in it.
// strerror's texts never contain ": ", so a path with one in it does not confuse this.
std::string FailureReason(const Status& status);

}  // namespace devserver
