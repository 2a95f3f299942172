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

ObjectFile::ObjectFile(Env* env) : env_(env != nullptr ? env : Env::Default()) {}

ObjectFile::~ObjectFile() {
  // Abandoned (SyncAndClose was not reached): the error of this close no longer matters.
  if (fd_ >= 0) (void)env_->Close(fd_, path_);
}

Status ObjectFile::Open(const std::string& path) {
  if (fd_ >= 0) (void)env_->Close(fd_, path_);
  fd_ = -1;
  path_ = path;
  size_ = 0;
  writeback_from_ = 0;
  return env_->Open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644, &fd_);
}

Status ObjectFile::OpenToKeep(const std::string& path) {
  if (fd_ >= 0) (void)env_->Close(fd_, path_);
  fd_ = -1;
  path_ = path;
  size_ = 0;
  // Read-write: the caller reads back what is kept (for its checksum).
  Status s = env_->Open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644, &fd_);
  if (!s.ok()) return s;
  const off_t end = lseek(fd_, 0, SEEK_END);
  if (end < 0) return Status::IOError("seek " + path_, errno);
  size_ = static_cast<uint64_t>(end);
  writeback_from_ = size_;
  return Status::Ok();
}

Status ObjectFile::Reserve(uint64_t size) { return env_->Allocate(fd_, path_, size); }

Status ObjectFile::Append(const char* data, size_t n) {
  Status s = env_->Write(fd_, path_, data, n);
  if (!s.ok()) return s;
  size_ += n;
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
  Status s = env_->Truncate(fd_, path_, 0);
  if (!s.ok()) return s;
  if (lseek(fd_, 0, SEEK_SET) < 0) return Status::IOError("seek " + path_, errno);
  size_ = 0;
  writeback_from_ = 0;
  return Status::Ok();
}

Status ObjectFile::SyncAndClose() {
  const Status synced = env_->Sync(fd_, path_);
  const Status closed = env_->Close(fd_, path_);
  fd_ = -1;
  return synced.ok() ? closed : synced;
}

}  // namespace devserver::storage
