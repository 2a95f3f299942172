// The real Env, on POSIX system calls. The file-system calls are Env's own defaults (see
// env.h), so every Env that does not override them reaches the real disk.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <system_error>

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

// A failed call's Status, with its errno kept for the caller.
Status Fail(const std::string& context, int e, int* err) {
  *err = e;
  return Status::IOError(context, e);
}

// The bodies of the path and *At variants, shared without a virtual call in between (so an
// Env overriding one variant does not see calls of the other).
Status MakeDirectoryAtImpl(int dir_fd, const std::string& name, const std::string& path,
                           mode_t mode, bool* created, int* err) {
  if (created != nullptr) *created = false;
  if (mkdirat(dir_fd, name.c_str(), mode) != 0) {
    if (errno == EEXIST) return Status::Ok();
    return Fail("mkdir " + path, errno, err);
  }
  if (created != nullptr) *created = true;
  return Status::Ok();
}

Status SymlinkAtImpl(const std::string& target, int dir_fd, const std::string& name,
                     const std::string& path, int* err) {
  if (symlinkat(target.c_str(), dir_fd, name.c_str()) != 0) {
    return Fail("symlink " + path, errno, err);
  }
  return Status::Ok();
}

}  // namespace

Env* Env::Default() {
  static PosixEnv env;
  return &env;
}

Status Env::DoOpen(const std::string& path, int flags, mode_t mode, int* fd, int* err) {
  *fd = open(path.c_str(), flags, mode);
  if (*fd < 0) return Fail("open " + path, errno, err);
  return Status::Ok();
}

Status Env::DoOpenAt(int dir_fd, const std::string& name, const std::string& path, int flags,
                     mode_t mode, int* fd, int* err) {
  *fd = openat(dir_fd, name.c_str(), flags, mode);
  if (*fd < 0) return Fail("open " + path, errno, err);
  return Status::Ok();
}

Status Env::DoWrite(int fd, const std::string& path, const void* data, size_t n, int* err) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Fail("write " + path, errno, err);
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return Status::Ok();
}

Status Env::DoWriteAt(int fd, const std::string& path, const void* data, size_t n, uint64_t offset,
                      int* err) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = pwrite(fd, p, n, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      return Fail("write " + path, errno, err);
    }
    p += w;
    n -= static_cast<size_t>(w);
    offset += static_cast<uint64_t>(w);
  }
  return Status::Ok();
}

Status Env::DoAllocate(int fd, const std::string& path, uint64_t size, int* err) {
  if (size == 0) return Status::Ok();
  // KEEP_SIZE: the file's length keeps meaning what was written.
  if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(size)) != 0) {
    const int e = errno;
    if (e == EOPNOTSUPP || e == ENOSYS || e == EINVAL) return Status::Ok();
    return Fail("fallocate " + path, e, err);
  }
  return Status::Ok();
}

Status Env::DoTruncate(int fd, const std::string& path, uint64_t size, int* err) {
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) return Fail("truncate " + path, errno, err);
  return Status::Ok();
}

Status Env::DoSync(int fd, const std::string& path, int* err) {
  if (fsync(fd) != 0) return Fail("fsync " + path, errno, err);
  return Status::Ok();
}

Status Env::DoSyncFileSystem(const std::string& path, int* err) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Fail("open " + path, errno, err);
  const int synced = syncfs(fd);
  const int sync_errno = errno;
  (void)close(fd);  // read-only: nothing for close to report
  if (synced != 0) return Fail("syncfs " + path, sync_errno, err);
  return Status::Ok();
}

Status Env::DoSyncPath(const std::string& path, int* err) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Fail("open " + path, errno, err);
  const int synced = fsync(fd);
  const int sync_errno = errno;
  (void)close(fd);  // read-only: nothing for close to report
  if (synced != 0) return Fail("fsync " + path, sync_errno, err);
  return Status::Ok();
}

Status Env::DoClose(int fd, const std::string& path, int* err) {
  if (close(fd) != 0) return Fail("close " + path, errno, err);
  return Status::Ok();
}

Status Env::DoRename(const std::string& from, const std::string& to, int* err) {
  if (rename(from.c_str(), to.c_str()) != 0) {
    return Fail("rename " + from + " to " + to, errno, err);
  }
  return Status::Ok();
}

Status Env::DoMakeDirectory(const std::string& path, mode_t mode, bool* created, int* err) {
  return MakeDirectoryAtImpl(AT_FDCWD, path, path, mode, created, err);
}

Status Env::DoMakeDirectoryAt(int dir_fd, const std::string& name, const std::string& path,
                              mode_t mode, bool* created, int* err) {
  return MakeDirectoryAtImpl(dir_fd, name, path, mode, created, err);
}

Status Env::DoSymlink(const std::string& target, const std::string& path, int* err) {
  return SymlinkAtImpl(target, AT_FDCWD, path, path, err);
}

Status Env::DoSymlinkAt(const std::string& target, int dir_fd, const std::string& name,
                        const std::string& path, int* err) {
  return SymlinkAtImpl(target, dir_fd, name, path, err);
}

Status Env::DoRemoveFile(const std::string& path, int* err) {
  if (unlink(path.c_str()) != 0 && errno != ENOENT) return Fail("remove " + path, errno, err);
  return Status::Ok();
}

Status Env::DoRemoveTree(const std::string& path, int* err) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec && ec.value() != ENOENT) return Fail("remove " + path, ec.value(), err);
  return Status::Ok();
}

Status MakeDirectories(Env* env, const std::string& path, mode_t mode) {
  if (path.empty()) return Status::InvalidArgument("empty directory path");
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    if (Status s = env->MakeDirectory(path.substr(0, pos), mode, nullptr); !s.ok()) return s;
  }
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return Status::IOError("stat " + path, errno);
  if (!S_ISDIR(st.st_mode)) return Status::InvalidArgument(path + " is not a directory");
  return Status::Ok();
}

}  // namespace devserver
