#include "fcgi/storage/gcs_sliced_download.h"

#include <fcntl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "fcgi/base/env.h"
#include "fcgi/base/log.h"
#include "fcgi/storage/crc32c.h"
#include "fcgi/storage/gcs_range_fetch.h"
#include "fcgi/storage/object_file.h"

namespace devserver::storage {
namespace {

// Per slice in flight. Each Take writes at least three quarters of it.
constexpr size_t kSliceBufferSize = 512 << 10;
// How often the calling thread reports progress and asks whether to cancel.
constexpr auto kMonitorInterval = std::chrono::milliseconds(100);

class SlicedDownload {
 public:
  SlicedDownload(GcsClient* client, const ObjectInfo& object, const std::string& dest_path,
                 FetchObserver* observer)
      : client_(client),
        object_(object),
        dest_path_(dest_path),
        part_path_(dest_path + ".part"),
        observer_(observer),
        env_(client->options().env != nullptr ? client->options().env : Env::Default()),
        file_(env_),
        slices_(PlanSlices(object.size, client->options().slice_size)),
        crcs_(slices_.size(), 0),
        written_(slices_.size()) {}

  Status Run() {
    Status s = file_.Open(part_path_);
    if (s.ok()) s = file_.Reserve(object_.size);
    if (s.ok()) s = Fetch();
    if (s.ok()) s = Verify();
    if (s.ok()) s = file_.SyncAndClose();
    if (s.ok()) s = env_->Rename(part_path_, dest_path_);
    if (!s.ok()) {
      (void)env_->RemoveFile(part_path_);
      return s;
    }
    if (observer_ != nullptr) observer_->OnProgress(object_.size, object_.size);
    return Status::Ok();
  }

 private:
  // What one slice's RangeFetch writes into: its place in the file, and its CRC.
  class SliceSink : public RangeSink {
   public:
    SliceSink(SlicedDownload* download, size_t index) : download_(download), index_(index) {}
    Status Take(uint64_t offset, const char* data, size_t n) override {
      crc_ = Crc32cExtend(crc_, data, n);
      Status s =
          download_->env_->WriteAt(download_->file_.fd(), download_->part_path_, data, n, offset);
      if (!s.ok()) return s;
      // Start writeback now rather than leave gigabytes dirty for the final fsync. Advisory:
      // an error shows up again at fsync.
      (void)sync_file_range(download_->file_.fd(), static_cast<off_t>(offset),
                            static_cast<off_t>(n), SYNC_FILE_RANGE_WRITE);
      download_->done_.fetch_add(n, std::memory_order_relaxed);
      // A slice is written front to back (a retry resumes where it stopped).
      download_->written_[index_].store(offset + n - download_->slices_[index_].begin,
                                        std::memory_order_release);
      return Status::Ok();
    }
    Status StartOver() override {
      return Status::Failed(download_->object_.Url() + ": a slice cannot start over");
    }
    uint32_t crc() const { return crc_; }

   private:
    SlicedDownload* const download_;
    const size_t index_;
    uint32_t crc_ = 0;
  };

  // The slices' view of cancellation: set when the caller cancels or another slice failed.
  class StopFlag : public FetchObserver {
   public:
    void OnProgress(uint64_t, uint64_t) override {}
    bool Cancelled() override { return stop.load(std::memory_order_relaxed); }
    std::atomic<bool> stop{false};
  };

  Status Fetch() {
    const size_t threads =
        std::min(slices_.size(), static_cast<size_t>(std::max(1, client_->options().max_slices)));
    std::vector<std::thread> workers;
    workers.reserve(threads);
    for (size_t i = 0; i < threads; ++i) workers.emplace_back([this] { Work(); });
    bool cancelled = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      uint64_t reported = 0;
      while (!cv_.wait_for(lock, kMonitorInterval, [&] { return finished_ == threads; })) {
        lock.unlock();
        if (observer_ != nullptr) {
          const uint64_t done = done_.load(std::memory_order_relaxed);
          if (done != reported) {
            observer_->OnContiguous(part_path_, Contiguous());
            observer_->OnProgress(done, object_.size);
          }
          reported = done;
          if (!cancelled && observer_->Cancelled()) {
            cancelled = true;
            stop_.stop = true;
          }
        }
        lock.lock();
      }
    }
    for (std::thread& t : workers) t.join();
    if (cancelled) return Status::Failed(object_.Url() + ": cancelled");
    if (error_.ok() && observer_ != nullptr) observer_->OnContiguous(part_path_, object_.size);
    return error_;
  }

  // How far the file is written without a gap: the whole slices in front, and what the first
  // unfinished one has of its front.
  uint64_t Contiguous() const {
    for (size_t i = 0; i < slices_.size(); ++i) {
      const uint64_t length = slices_[i].end - slices_[i].begin;
      const uint64_t written = written_[i].load(std::memory_order_acquire);
      if (written < length) return slices_[i].begin + written;
    }
    return object_.size;
  }

  void Work() {
    for (;;) {
      const size_t i = next_slice_.fetch_add(1);
      if (i >= slices_.size() || stop_.Cancelled()) break;
      SliceSink sink(this, i);
      RangeFetch fetch(client_, object_, object_.generation, slices_[i].begin, slices_[i].end,
                       &sink, &stop_, kSliceBufferSize);
      fetch.RetryStalls();
      const Status s = fetch.Run();
      if (!s.ok()) {
        Fail(s);
        break;
      }
      crcs_[i] = sink.crc();
    }
    const std::lock_guard<std::mutex> lock(mu_);
    ++finished_;
    cv_.notify_all();
  }

  // The first failure is the download's cause; the others stop without one.
  void Fail(const Status& s) {
    const std::lock_guard<std::mutex> lock(mu_);
    if (error_.ok() && !stop_.Cancelled()) error_ = s;
    stop_.stop = true;
  }

  Status Verify() const {
    uint32_t crc = 0;
    for (size_t i = 0; i < slices_.size(); ++i) {
      crc = Crc32cCombine(crc, crcs_[i], slices_[i].end - slices_[i].begin);
    }
    const std::string actual = Crc32cBase64(crc);
    if (actual == object_.crc32c) return Status::Ok();
    return Status::Failed(object_.Url() + ": checksum mismatch: downloaded crc32c " + actual +
                          ", GCS says " + object_.crc32c);
  }

  GcsClient* const client_;
  const ObjectInfo& object_;
  const std::string dest_path_;
  const std::string part_path_;
  FetchObserver* const observer_;
  Env* const env_;
  ObjectFile file_;
  const std::vector<Slice> slices_;
  std::vector<uint32_t> crcs_;                  // each written by the thread that fetched the slice
  std::vector<std::atomic<uint64_t>> written_;  // bytes of each slice's front on disk
  std::atomic<size_t> next_slice_{0};
  std::atomic<uint64_t> done_{0};
  StopFlag stop_;
  std::mutex mu_;
  std::condition_variable cv_;
  size_t finished_ = 0;  // worker threads done
  Status error_;         // the first failure
};

}  // namespace

std::vector<Slice> PlanSlices(uint64_t size, uint64_t slice_size) {
  std::vector<Slice> slices;
  if (slice_size == 0) slice_size = size;
  for (uint64_t at = 0; at < size; at += slice_size) {
    slices.push_back({at, std::min(size, at + slice_size)});
  }
  return slices;
}

Status DownloadObjectSliced(GcsClient* client, const ObjectInfo& object,
                            const std::string& dest_path, FetchObserver* observer) {
  return SlicedDownload(client, object, dest_path, observer).Run();
}

}  // namespace devserver::storage
