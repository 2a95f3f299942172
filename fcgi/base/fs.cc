#include "fcgi/base/fs.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "fcgi/base/env.h"

namespace devserver {

Status MakeDirectories(const std::string& path, mode_t mode) {
  return MakeDirectories(Env::Default(), path, mode);
}

Status WriteFileAtomically(const std::string& path, const std::string& contents) {
  std::string temp = path + ".tmp." + std::to_string(getpid());
  int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError("open " + temp, errno);
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = write(fd, contents.data() + done, contents.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status err = Status::IOError("write " + temp, errno);
      close(fd);
      unlink(temp.c_str());
      return err;
    }
    done += static_cast<size_t>(n);
  }
  int synced = fsync(fd);
  int sync_errno = errno;
  if (close(fd) != 0 || synced != 0) {
    Status err = Status::IOError("fsync/close " + temp, synced != 0 ? sync_errno : errno);
    unlink(temp.c_str());
    return err;
  }
  if (rename(temp.c_str(), path.c_str()) != 0) {
    Status err = Status::IOError("rename " + temp, errno);
    unlink(temp.c_str());
    return err;
  }
  return Status::Ok();
}

Status ReadFile(const std::string& path, std::string* contents) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::IOError("open " + path, errno);
  contents->clear();
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status err = Status::IOError("read " + path, errno);
      close(fd);
      return err;
    }
    if (n == 0) break;
    contents->append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return Status::Ok();
}

ExclusiveFileLock::~ExclusiveFileLock() {
  if (fd_ >= 0) close(fd_);  // closing the last descriptor releases the lock
}

Status ExclusiveFileLock::Lock(const std::string& path, bool wait, bool* held) {
  *held = false;
  if (fd_ < 0) {
    // Read-only is enough for flock(2), and lets any user lock a file another user created.
    fd_ = open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) return Status::IOError("open " + path, errno);
  }
  int rc;
  do {
    rc = flock(fd_, LOCK_EX | (wait ? 0 : LOCK_NB));
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    if (errno == EWOULDBLOCK) return Status::Ok();
    return Status::IOError("flock " + path, errno);
  }
  *held = true;
  return Status::Ok();
}

}  // namespace devserver
