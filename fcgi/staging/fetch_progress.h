// One object of a staging as its download writes it, for readers that follow the download.
//
// A cold staging is bounded by its biggest object's download only if whatever reads the object
// (the payload's SHA-1 and SHA-256, unpacking an archive) runs while the rest of it arrives,
// not after. The download tells its FetchProgress how long a prefix of the object is final in
// its working file; readers wait for the bytes they need and pread them from the page cache.
//
// A reader's end of the object is reached only once the download is finished and verified:
// bytes read before then may still be thrown away. When they are (a peer's copy failed its
// checksum, a resumed file did not add up), the download restarts and every reader of the
// earlier attempt gets kRestarted from its next read; it starts again or gives up. A failed
// download gives its readers its own cause.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "fcgi/base/status.h"
#include "fcgi/extract/extractor.h"

namespace devserver {

class FetchProgress {
 public:
  explicit FetchProgress(uint64_t size) : size_(size) {}
  // An object already whole and verified at `path` (nothing follows a download).
  static std::shared_ptr<FetchProgress> Whole(const std::string& path, uint64_t size);

  uint64_t size() const { return size_; }

  // The download's side, from one thread.
  // Bytes [0, contiguous) of this attempt are written to `path`, the attempt's working file
  // (opened once here: it may be renamed into place at the end).
  void Advance(const std::string& path, uint64_t contiguous);
  // What this attempt wrote is void; the next attempt starts from the first byte.
  void Restart();
  // The download is over: whole and verified at `path`, or failed with `outcome`.
  void Finish(const std::string& path, const Status& outcome);

  // What a reader may do now.
  struct Snapshot {
    uint64_t attempt = 0;
    uint64_t readable = 0;  // bytes [0, readable) of `attempt` are final in `fd`
    bool verified = false;  // the download is over and the object whole
    Status failed;          // the download is over and failed
    std::shared_ptr<const int> fd;
  };
  // Waits until something past `offset` is readable in `attempt`, or the download is over, or
  // another attempt began; Unavailable("cancelled") once `cancelled` says so (polled).
  // `waited_micros` grows by the time spent waiting.
  Status Wait(uint64_t attempt, uint64_t offset, const std::function<bool()>& cancelled,
              Snapshot* snapshot, int64_t* waited_micros);
  uint64_t attempt() const;
  // What a reader of `attempt` can read without waiting: the readable prefix, or UINT64_MAX
  // once its reads no longer wait (the download is over, or `attempt` was thrown away).
  uint64_t ReadyFor(uint64_t attempt) const;
  // Whether the download is over, whole and verified.
  bool verified() const;
  // Whether a reader of `attempt` read bytes that were later thrown away.
  bool RestartedSince(uint64_t attempt) const;

 private:
  void OpenLocked(const std::string& path);

  const uint64_t size_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  uint64_t attempt_ = 0;
  uint64_t readable_ = 0;
  bool over_ = false;
  Status outcome_;
  std::shared_ptr<const int> fd_;  // closes the descriptor with its last reader
};

// Sequential-or-positional reads of one attempt of a FetchProgress. Also the extractor's input,
// so an archive is unpacked as it arrives.
class FollowingReader : public extract::ArchiveInput {
 public:
  static constexpr const char* kRestarted = "its download started over";

  FollowingReader(std::shared_ptr<FetchProgress> progress, std::function<bool()> cancelled)
      : progress_(std::move(progress)),
        cancelled_(std::move(cancelled)),
        attempt_(progress_->attempt()) {}

  int64_t size() const override { return static_cast<int64_t>(progress_->size()); }
  uint64_t ready() const override { return progress_->ReadyFor(attempt_); }
  // Failed(kRestarted) when the attempt was thrown away; the download's cause when it failed.
  Status ReadAt(uint64_t offset, char* buf, size_t n, size_t* got) override;
  Status OpenWhole(int* fd) override;
  int64_t waited_micros() const override { return waited_micros_; }
  // Waits for the download to be verified (the bytes read so far are final).
  Status WaitVerified();
  // Whether the bytes this reader read were thrown away since.
  bool Restarted() const { return progress_->RestartedSince(attempt_); }

 private:
  Status Await(uint64_t offset, FetchProgress::Snapshot* snapshot);

  const std::shared_ptr<FetchProgress> progress_;
  const std::function<bool()> cancelled_;
  const uint64_t attempt_;
  int64_t waited_micros_ = 0;
};

}  // namespace devserver
