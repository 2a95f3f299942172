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
// Telling failures apart. Status carries the text only, so every file-system call also takes
// an optional `int* err` that receives the errno of a failure (0 on success), for callers that
// branch on it (O_EXCL's or symlink's EEXIST "already exists", O_NOFOLLOW's ELOOP/ENOTDIR) or
// word the failure their own way with Status::IOError("<their context>", err), as the
// extractor does ("build.tgz: writing a/b.bin: No space left on device"). Failures that are
// not failures are success: mkdir's EEXIST (with *created false), a missing path to remove.
//
// The public calls are non-virtual (so `err` can default to null); implementations override
// the protected Do* hooks, whose `err` is never null. The hooks default to the real POSIX
// calls, so an Env that only substitutes the clock (a test's manual clock) still reaches the
// real disk. EnvWrapper forwards everything to another Env.
#pragma once

#include <sys/types.h>

#include <cerrno>
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
  // `err`, when not null, receives the errno of a failure, 0 on success.

  // open(2). *fd is -1 on failure. ("open <path>")
  Status Open(const std::string& path, int flags, mode_t mode, int* fd, int* err = nullptr) {
    int e = 0;
    return Report(DoOpen(path, flags, mode, fd, &e), &e, err);
  }
  // openat(2) of `name` relative to `dir_fd`; `path` is the full path, for messages and
  // fault rules. ("open <path>")
  Status OpenAt(int dir_fd, const std::string& name, const std::string& path, int flags,
                mode_t mode, int* fd, int* err = nullptr) {
    int e = 0;
    return Report(DoOpenAt(dir_fd, name, path, flags, mode, fd, &e), &e, err);
  }
  // Writes all `n` bytes at the file offset, retrying EINTR and short writes. ("write <path>")
  Status Write(int fd, const std::string& path, const void* data, size_t n, int* err = nullptr) {
    int e = 0;
    return Report(DoWrite(fd, path, data, n, &e), &e, err);
  }
  // pwrite(2) of all `n` bytes at `offset`, retrying EINTR and short writes. ("write <path>")
  Status WriteAt(int fd, const std::string& path, const void* data, size_t n, uint64_t offset,
                 int* err = nullptr) {
    int e = 0;
    return Report(DoWriteAt(fd, path, data, n, offset, &e), &e, err);
  }
  // Reserves `size` bytes from offset 0 without changing the file's length
  // (FALLOC_FL_KEEP_SIZE). File systems that cannot (EOPNOTSUPP, ENOSYS, EINVAL) are fine.
  // ("fallocate <path>")
  Status Allocate(int fd, const std::string& path, uint64_t size, int* err = nullptr) {
    int e = 0;
    return Report(DoAllocate(fd, path, size, &e), &e, err);
  }
  // ftruncate(2). ("truncate <path>")
  Status Truncate(int fd, const std::string& path, uint64_t size, int* err = nullptr) {
    int e = 0;
    return Report(DoTruncate(fd, path, size, &e), &e, err);
  }
  // fsync(2). ("fsync <path>")
  Status Sync(int fd, const std::string& path, int* err = nullptr) {
    int e = 0;
    return Report(DoSync(fd, path, &e), &e, err);
  }
  // syncfs(2) of the file system holding `path`. ("syncfs <path>")
  Status SyncFileSystem(const std::string& path, int* err = nullptr) {
    int e = 0;
    return Report(DoSyncFileSystem(path, &e), &e, err);
  }
  // Opens `path` read-only, fsyncs and closes it: for a directory after entries changed in
  // it, or a file already written and closed. ("open <path>", "fsync <path>")
  Status SyncPath(const std::string& path, int* err = nullptr) {
    int e = 0;
    return Report(DoSyncPath(path, &e), &e, err);
  }
  // close(2). The descriptor is gone afterwards even when this fails (as with close(2)); a
  // failure is a written file's last chance to report EIO or ENOSPC. ("close <path>")
  Status Close(int fd, const std::string& path, int* err = nullptr) {
    int e = 0;
    return Report(DoClose(fd, path, &e), &e, err);
  }
  // rename(2). ("rename <from> to <to>")
  Status Rename(const std::string& from, const std::string& to, int* err = nullptr) {
    int e = 0;
    return Report(DoRename(from, to, &e), &e, err);
  }
  // mkdir(2), one level. Something already at `path` (EEXIST) is success with *created
  // false; `created` may be null. ("mkdir <path>")
  Status MakeDirectory(const std::string& path, mode_t mode, bool* created, int* err = nullptr) {
    int e = 0;
    return Report(DoMakeDirectory(path, mode, created, &e), &e, err);
  }
  // mkdirat(2) of `name` relative to `dir_fd`, as MakeDirectory.
  Status MakeDirectoryAt(int dir_fd, const std::string& name, const std::string& path, mode_t mode,
                         bool* created, int* err = nullptr) {
    int e = 0;
    return Report(DoMakeDirectoryAt(dir_fd, name, path, mode, created, &e), &e, err);
  }
  // symlink(2): creates `path` pointing at `target`. EEXIST is a failure (*err tells it).
  // ("symlink <path>")
  Status Symlink(const std::string& target, const std::string& path, int* err = nullptr) {
    int e = 0;
    return Report(DoSymlink(target, path, &e), &e, err);
  }
  // symlinkat(2) of `name` relative to `dir_fd`, as Symlink.
  Status SymlinkAt(const std::string& target, int dir_fd, const std::string& name,
                   const std::string& path, int* err = nullptr) {
    int e = 0;
    return Report(DoSymlinkAt(target, dir_fd, name, path, &e), &e, err);
  }
  // unlink(2); a missing file is success. ("remove <path>")
  Status RemoveFile(const std::string& path, int* err = nullptr) {
    int e = 0;
    return Report(DoRemoveFile(path, &e), &e, err);
  }
  // rm -r; a missing path is success. ("remove <path>")
  Status RemoveTree(const std::string& path, int* err = nullptr) {
    int e = 0;
    return Report(DoRemoveTree(path, &e), &e, err);
  }

 protected:
  // The hooks behind the calls above, with the same contracts. On failure they set *err (never
  // null) to the errno the Status names; the POSIX implementation is the default.
  virtual Status DoOpen(const std::string& path, int flags, mode_t mode, int* fd, int* err);
  virtual Status DoOpenAt(int dir_fd, const std::string& name, const std::string& path, int flags,
                          mode_t mode, int* fd, int* err);
  virtual Status DoWrite(int fd, const std::string& path, const void* data, size_t n, int* err);
  virtual Status DoWriteAt(int fd, const std::string& path, const void* data, size_t n,
                           uint64_t offset, int* err);
  virtual Status DoAllocate(int fd, const std::string& path, uint64_t size, int* err);
  virtual Status DoTruncate(int fd, const std::string& path, uint64_t size, int* err);
  virtual Status DoSync(int fd, const std::string& path, int* err);
  virtual Status DoSyncFileSystem(const std::string& path, int* err);
  virtual Status DoSyncPath(const std::string& path, int* err);
  virtual Status DoClose(int fd, const std::string& path, int* err);
  virtual Status DoRename(const std::string& from, const std::string& to, int* err);
  virtual Status DoMakeDirectory(const std::string& path, mode_t mode, bool* created, int* err);
  virtual Status DoMakeDirectoryAt(int dir_fd, const std::string& name, const std::string& path,
                                   mode_t mode, bool* created, int* err);
  virtual Status DoSymlink(const std::string& target, const std::string& path, int* err);
  virtual Status DoSymlinkAt(const std::string& target, int dir_fd, const std::string& name,
                             const std::string& path, int* err);
  virtual Status DoRemoveFile(const std::string& path, int* err);
  virtual Status DoRemoveTree(const std::string& path, int* err);

 private:
  // Hands the hook's errno to the caller: 0 on success, and EIO for a hook that failed
  // without saying why. `e` is read here, after the hook (an argument) has run.
  static Status Report(Status s, const int* e, int* err) {
    if (err != nullptr) *err = s.ok() ? 0 : (*e != 0 ? *e : EIO);
    return s;
  }
};

// Forwards every call to `target` (LevelDB's EnvWrapper): subclasses override only what they
// change, and call the EnvWrapper:: hook to make the real call.
class EnvWrapper : public Env {
 public:
  explicit EnvWrapper(Env* target) : target_(target) {}
  Env* target() const { return target_; }

  int64_t MonotonicMicros() override { return target_->MonotonicMicros(); }
  int64_t WallSeconds() override { return target_->WallSeconds(); }
  Status Disk(const std::string& path, DiskSpace* space) override {
    return target_->Disk(path, space);
  }

 protected:
  Status DoOpen(const std::string& path, int flags, mode_t mode, int* fd, int* err) override {
    return target_->Open(path, flags, mode, fd, err);
  }
  Status DoOpenAt(int dir_fd, const std::string& name, const std::string& path, int flags,
                  mode_t mode, int* fd, int* err) override {
    return target_->OpenAt(dir_fd, name, path, flags, mode, fd, err);
  }
  Status DoWrite(int fd, const std::string& path, const void* data, size_t n, int* err) override {
    return target_->Write(fd, path, data, n, err);
  }
  Status DoWriteAt(int fd, const std::string& path, const void* data, size_t n, uint64_t offset,
                   int* err) override {
    return target_->WriteAt(fd, path, data, n, offset, err);
  }
  Status DoAllocate(int fd, const std::string& path, uint64_t size, int* err) override {
    return target_->Allocate(fd, path, size, err);
  }
  Status DoTruncate(int fd, const std::string& path, uint64_t size, int* err) override {
    return target_->Truncate(fd, path, size, err);
  }
  Status DoSync(int fd, const std::string& path, int* err) override {
    return target_->Sync(fd, path, err);
  }
  Status DoSyncFileSystem(const std::string& path, int* err) override {
    return target_->SyncFileSystem(path, err);
  }
  Status DoSyncPath(const std::string& path, int* err) override {
    return target_->SyncPath(path, err);
  }
  Status DoClose(int fd, const std::string& path, int* err) override {
    return target_->Close(fd, path, err);
  }
  Status DoRename(const std::string& from, const std::string& to, int* err) override {
    return target_->Rename(from, to, err);
  }
  Status DoMakeDirectory(const std::string& path, mode_t mode, bool* created, int* err) override {
    return target_->MakeDirectory(path, mode, created, err);
  }
  Status DoMakeDirectoryAt(int dir_fd, const std::string& name, const std::string& path,
                           mode_t mode, bool* created, int* err) override {
    return target_->MakeDirectoryAt(dir_fd, name, path, mode, created, err);
  }
  Status DoSymlink(const std::string& target, const std::string& path, int* err) override {
    return target_->Symlink(target, path, err);
  }
  Status DoSymlinkAt(const std::string& target, int dir_fd, const std::string& name,
                     const std::string& path, int* err) override {
    return target_->SymlinkAt(target, dir_fd, name, path, err);
  }
  Status DoRemoveFile(const std::string& path, int* err) override {
    return target_->RemoveFile(path, err);
  }
  Status DoRemoveTree(const std::string& path, int* err) override {
    return target_->RemoveTree(path, err);
  }

 private:
  Env* const target_;
};

// mkdir -p through `env`: creates `path` and its missing parents with `mode`; existing
// directories are fine, anything else at `path` is InvalidArgument.
Status MakeDirectories(Env* env, const std::string& path, mode_t mode);

}  // namespace devserver
