#include "fcgi/storage/object_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace devserver::storage {
namespace {

// Dirty data is handed to writeback in steps of this size while the download runs, so the
// final fsync waits for the last few MiB instead of the whole object.
constexpr uint64_t kWritebackStep = 16ULL << 20;

}  // namespace

ObjectFile::~ObjectFile() {
  if (fd_ >= 0) close(fd_);
}

Status ObjectFile::Open(const std::string& path) {
  if (fd_ >= 0) close(fd_);
  path_ = path;
  size_ = 0;
  writeback_from_ = 0;
  fd_ = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) return Status::IOError("open " + path, errno);
  return Status::Ok();
}

Status ObjectFile::Reserve(uint64_t size) {
  if (size == 0) return Status::Ok();
  // KEEP_SIZE: the file length keeps meaning "bytes downloaded so far".
  if (fallocate(fd_, FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(size)) != 0) {
    const int err = errno;
    if (err == EOPNOTSUPP || err == ENOSYS || err == EINVAL) return Status::Ok();
    return Status::IOError("reserve " + std::to_string(size) + " bytes for " + path_, err);
  }
  return Status::Ok();
}

Status ObjectFile::Append(const char* data, size_t n) {
  while (n > 0) {
    const ssize_t w = write(fd_, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Status::IOError("write " + path_, errno);
    }
    data += w;
    n -= static_cast<size_t>(w);
    size_ += static_cast<uint64_t>(w);
  }
  if (size_ - writeback_from_ >= kWritebackStep) StartWriteback();
  return Status::Ok();
}

void ObjectFile::Advanced(uint64_t n) {
  size_ += n;
  if (size_ - writeback_from_ >= kWritebackStep) StartWriteback();
}

void ObjectFile::StartWriteback() {
  // Advisory: an error here shows up again, and is reported, at fsync.
  (void)sync_file_range(fd_, static_cast<off_t>(writeback_from_),
                        static_cast<off_t>(size_ - writeback_from_), SYNC_FILE_RANGE_WRITE);
  writeback_from_ = size_;
}

Status ObjectFile::Truncate() {
  if (ftruncate(fd_, 0) != 0) return Status::IOError("truncate " + path_, errno);
  if (lseek(fd_, 0, SEEK_SET) < 0) return Status::IOError("seek " + path_, errno);
  size_ = 0;
  writeback_from_ = 0;
  return Status::Ok();
}

Status ObjectFile::SyncAndClose() {
  const int synced = fsync(fd_);
  const int sync_errno = errno;
  const int closed = close(fd_);
  const int close_errno = errno;
  fd_ = -1;
  if (synced != 0) return Status::IOError("fsync " + path_, sync_errno);
  if (closed != 0) return Status::IOError("close " + path_, close_errno);
  return Status::Ok();
}

}  // namespace devserver::storage
