#include "fcgi/staging/fetch_progress.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

namespace devserver {
namespace {

// How often a waiting reader asks whether its staging was cancelled.
constexpr auto kCancelPoll = std::chrono::milliseconds(100);

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::shared_ptr<FetchProgress> FetchProgress::Whole(const std::string& path, uint64_t size) {
  auto progress = std::make_shared<FetchProgress>(size);
  progress->Finish(path, Status::Ok());
  return progress;
}

void FetchProgress::OpenLocked(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  // A file that cannot be opened leaves the readers waiting for Finish, which opens again
  // and, failing that, reports why.
  if (fd < 0) return;
  fd_ = std::shared_ptr<const int>(new int(fd), [](const int* p) {
    close(*p);
    delete p;
  });
}

void FetchProgress::Advance(const std::string& path, uint64_t contiguous) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!fd_) OpenLocked(path);
    if (!fd_ || contiguous <= readable_) return;
    readable_ = std::min(contiguous, size_);
  }
  changed_.notify_all();
}

void FetchProgress::Restart() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    fd_.reset();
    // Nothing readable yet, so nothing any reader could have read: its readers carry on.
    if (readable_ == 0) return;
    ++attempt_;
    readable_ = 0;
  }
  changed_.notify_all();
}

void FetchProgress::Finish(const std::string& path, const Status& outcome) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    over_ = true;
    outcome_ = outcome;
    if (outcome.ok()) {
      // The file in place is the one to read (a store that never reported a prefix, or an
      // attempt whose working file was replaced).
      fd_.reset();
      OpenLocked(path);
      if (fd_) {
        readable_ = size_;
      } else {
        outcome_ = Status::IOError("open " + path, errno);
      }
    }
  }
  changed_.notify_all();
}

uint64_t FetchProgress::attempt() const {
  std::lock_guard<std::mutex> lock(mu_);
  return attempt_;
}

uint64_t FetchProgress::ReadyFor(uint64_t attempt) const {
  std::lock_guard<std::mutex> lock(mu_);
  return attempt_ != attempt || over_ ? UINT64_MAX : readable_;
}

bool FetchProgress::verified() const {
  std::lock_guard<std::mutex> lock(mu_);
  return over_ && outcome_.ok();
}

bool FetchProgress::RestartedSince(uint64_t attempt) const {
  std::lock_guard<std::mutex> lock(mu_);
  return attempt_ != attempt;
}

Status FetchProgress::Wait(uint64_t attempt, uint64_t offset,
                           const std::function<bool()>& cancelled, Snapshot* snapshot,
                           int64_t* waited_micros) {
  std::unique_lock<std::mutex> lock(mu_);
  const auto ready = [&] { return attempt_ != attempt || over_ || readable_ > offset; };
  if (!ready()) {
    const int64_t started = NowMicros();
    while (!ready()) {
      if (cancelled && cancelled()) {
        *waited_micros += NowMicros() - started;
        return Status::Unavailable("cancelled");
      }
      changed_.wait_for(lock, kCancelPoll, ready);
    }
    *waited_micros += NowMicros() - started;
  }
  snapshot->attempt = attempt_;
  snapshot->readable = readable_;
  snapshot->verified = over_ && outcome_.ok();
  snapshot->failed = over_ ? outcome_ : Status::Ok();
  snapshot->fd = fd_;
  return Status::Ok();
}

Status FollowingReader::Await(uint64_t offset, FetchProgress::Snapshot* snapshot) {
  Status s = progress_->Wait(attempt_, offset, cancelled_, snapshot, &waited_micros_);
  if (!s.ok()) return s;
  if (snapshot->attempt != attempt_) return Status::Failed(kRestarted);
  if (!snapshot->failed.ok()) return snapshot->failed;
  return Status::Ok();
}

Status FollowingReader::ReadAt(uint64_t offset, char* buf, size_t n, size_t* got) {
  *got = 0;
  for (;;) {
    FetchProgress::Snapshot snapshot;
    Status s = Await(offset, &snapshot);
    if (!s.ok()) return s;
    if (offset >= progress_->size()) {
      // The end counts only once the download is verified: until then the bytes may yet be
      // thrown away.
      if (snapshot.verified) return Status::Ok();
      continue;
    }
    if (snapshot.readable <= offset) continue;
    const size_t want = static_cast<size_t>(std::min<uint64_t>(n, snapshot.readable - offset));
    ssize_t r;
    do {
      r = pread(*snapshot.fd, buf, want, static_cast<off_t>(offset));
    } while (r < 0 && errno == EINTR);
    if (r < 0) return Status::IOError("reading a download", errno);
    if (r == 0) return Status::Failed("a download's file is shorter than it said");
    *got = static_cast<size_t>(r);
    return Status::Ok();
  }
}

Status FollowingReader::WaitVerified() {
  for (;;) {
    FetchProgress::Snapshot snapshot;
    Status s = Await(progress_->size(), &snapshot);
    if (!s.ok() || snapshot.verified) return s;
  }
}

Status FollowingReader::OpenWhole(int* fd) {
  Status s = WaitVerified();
  if (!s.ok()) return s;
  FetchProgress::Snapshot snapshot;
  s = Await(0, &snapshot);
  if (!s.ok()) return s;
  *fd = dup(*snapshot.fd);
  if (*fd < 0) return Status::IOError("reading a download", errno);
  return Status::Ok();
}

}  // namespace devserver
