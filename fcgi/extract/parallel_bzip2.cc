#include "fcgi/extract/parallel_bzip2.h"

#include <bzlib.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "fcgi/extract/bzip2_block_scanner.h"

namespace devserver::extract {
// Named, not anonymous: the reader's Impl holds these, and a class with linkage may not hold
// members of types without.
namespace bzip2_pool {

constexpr size_t kSerialReadBytes = size_t{1} << 20;
constexpr size_t kOutputPiece = size_t{1} << 20;

enum class JobState { kPending, kDone, kTooBig, kFailed };

// One block, wrapped as a stream of its own, and what decoding it gave.
struct Job {
  PageBuffer stream;
  JobState state = JobState::kPending;
  PageBuffer out;
};

Status Bzip2Error(int code) {
  switch (code) {
    case BZ_DATA_ERROR:
      return Status::Failed("bzip2: corrupt data (a block's CRC or structure is wrong)");
    case BZ_DATA_ERROR_MAGIC:
      return Status::Failed("bzip2: not bzip2 data");
    case BZ_MEM_ERROR:
      return Status::Failed("bzip2: out of memory");
    default:
      return Status::Failed("bzip2: decoder error " + std::to_string(code));
  }
}

// libbz2 over bytes in memory, piece by piece.
class PieceDecoder {
 public:
  // Its tables come from `memory`, which outlives it and is used by one thread at a time.
  explicit PieceDecoder(Bzip2Memory* memory) : memory_(memory) {}
  ~PieceDecoder() { End(); }
  PieceDecoder(const PieceDecoder&) = delete;
  PieceDecoder& operator=(const PieceDecoder&) = delete;

  Status Begin() {
    End();
    z_ = bz_stream{};
    z_.bzalloc = Bzip2Memory::Allocate;
    z_.bzfree = Bzip2Memory::Free;
    z_.opaque = memory_;
    const int r = BZ2_bzDecompressInit(&z_, 0, 0);
    if (r != BZ_OK) return Bzip2Error(r);
    open_ = true;
    return Status::Ok();
  }
  void End() {
    if (open_) BZ2_bzDecompressEnd(&z_);
    open_ = false;
  }
  void Feed(const char* data, size_t n) {
    z_.next_in = const_cast<char*>(data);  // libbz2 does not write its input
    z_.avail_in = static_cast<unsigned>(n);
  }
  size_t pending_input() const { return z_.avail_in; }
  // Decodes into out[0, n): sets *made, and *ended at the stream's end.
  Status Decode(char* out, size_t n, size_t* made, bool* ended) {
    z_.next_out = out;
    z_.avail_out = static_cast<unsigned>(n);
    const int r = BZ2_bzDecompress(&z_);
    *made = n - z_.avail_out;
    *ended = r == BZ_STREAM_END;
    if (r != BZ_OK && r != BZ_STREAM_END) return Bzip2Error(r);
    return Status::Ok();
  }

 private:
  Bzip2Memory* const memory_;
  bz_stream z_{};
  bool open_ = false;
};

// Decodes job->stream into job->out; the state to publish.
JobState DecodeJob(Job* job, size_t cap, Bzip2Memory* memory) {
  PieceDecoder decoder(memory);
  if (!decoder.Begin().ok()) return JobState::kFailed;
  decoder.Feed(job->stream.data(), job->stream.size());
  // Only the pages the block's output reaches are ever touched.
  job->out = PageBuffer(cap);
  if (job->out.data() == nullptr) return JobState::kFailed;
  size_t made = 0;
  bool ended = false;
  const Status s = decoder.Decode(job->out.data(), cap, &made, &ended);
  if (s.ok() && ended) {
    job->out.set_size(made);
    return JobState::kDone;
  }
  job->out = PageBuffer();
  if (s.ok() && made == cap) return JobState::kTooBig;
  return JobState::kFailed;  // also a block cut short: no output, no error
}

}  // namespace bzip2_pool

using bzip2_pool::DecodeJob;
using bzip2_pool::Job;
using bzip2_pool::JobState;
using bzip2_pool::kOutputPiece;
using bzip2_pool::kSerialReadBytes;
using bzip2_pool::PieceDecoder;

class ParallelBzip2Reader::Impl {
 public:
  Impl(ArchiveInput* input, const Bzip2Options& options)
      : input_(input),
        options_(options),
        scanner_(input, options.false_boundary_bit),
        max_in_flight_(static_cast<size_t>(std::max(options.threads, 1)) + 2) {
    for (int i = 0; i < std::max(options.threads, 1); ++i) {
      threads_.emplace_back([this] { Work(); });
    }
  }

  ~Impl() {
    StopPool();
    for (std::thread& t : threads_) t.join();
  }

  Status Next(const char** data, size_t* size) {
    *size = 0;
    if (serial_) return NextSerial(data, size);
    while (true) {
      if (in_pieces_) {
        if (Status s = NextPiece(data, size); !s.ok() || *size > 0) return s;
        continue;
      }
      std::shared_ptr<Job> front;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!jobs_.empty() && jobs_.front()->state != JobState::kPending) {
          front = std::move(jobs_.front());
          jobs_.pop_front();
        }
      }
      if (front) {
        if (front->state == JobState::kFailed) return StartOver(data, size);
        if (front->state == JobState::kTooBig) {
          if (Status s = pieces_.Begin(); !s.ok()) return s;
          current_ = std::move(front);
          pieces_.Feed(current_->stream.data(), current_->stream.size());
          in_pieces_ = true;
          std::lock_guard<std::mutex> lock(mu_);
          ++stats_.blocks_in_pieces;
          continue;
        }
        current_ = std::move(front);
        {
          std::lock_guard<std::mutex> lock(mu_);
          ++stats_.blocks_in_parallel;
        }
        if (current_->out.size() == 0) continue;
        *data = current_->out.data();
        *size = current_->out.size();
        given_ += *size;
        return Status::Ok();
      }
      const size_t in_flight = InFlight();
      if (!scanned_all_ && in_flight < max_in_flight_) {
        // While blocks are being decoded, waiting for bytes still to come would hold back
        // output that is ready: the scan then takes only what has arrived.
        auto job = std::make_shared<Job>();
        Bzip2BlockScanner::Result result = Bzip2BlockScanner::Result::kEnd;
        if (Status s = scanner_.Next(&job->stream, in_flight == 0, &result); !s.ok()) return s;
        switch (result) {
          case Bzip2BlockScanner::Result::kUnexpected:
            return StartOver(data, size);
          case Bzip2BlockScanner::Result::kEnd:
            scanned_all_ = true;
            continue;
          case Bzip2BlockScanner::Result::kBlock: {
            std::lock_guard<std::mutex> lock(mu_);
            jobs_.push_back(job);
            todo_.push_back(std::move(job));
            work_cv_.notify_one();
            continue;
          }
          case Bzip2BlockScanner::Result::kWaiting:
            break;  // for the block being decoded
        }
      }
      std::unique_lock<std::mutex> lock(mu_);
      if (jobs_.empty()) return Status::Ok();  // the end
      done_cv_.wait(lock, [&] { return jobs_.front()->state != JobState::kPending; });
    }
  }

  Bzip2Stats stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  size_t InFlight() {
    std::lock_guard<std::mutex> lock(mu_);
    return jobs_.size();
  }

  void Work() {
    Bzip2Memory memory;
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      work_cv_.wait(lock, [&] { return stop_ || !todo_.empty(); });
      if (stop_) return;
      std::shared_ptr<Job> job = std::move(todo_.front());
      todo_.pop_front();
      lock.unlock();
      // The caller looks at a job's stream and output only once its state is published.
      const JobState state = DecodeJob(job.get(), options_.max_block_output, &memory);
      lock.lock();
      job->state = state;
      done_cv_.notify_all();
    }
  }

  void StopPool() {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    todo_.clear();
    work_cv_.notify_all();
  }

  // A block over max_block_output, decoded here a piece at a time.
  Status NextPiece(const char** data, size_t* size) {
    piece_.resize(kOutputPiece);
    size_t made = 0;
    bool ended = false;
    Status s = pieces_.Decode(piece_.data(), piece_.size(), &made, &ended);
    if (!s.ok() || (!ended && made == 0)) {
      in_pieces_ = false;
      return StartOver(data, size);
    }
    if (ended) in_pieces_ = false;
    *data = piece_.data();
    *size = made;
    given_ += made;
    return Status::Ok();
  }

  // One libbz2 decode of the whole input from its first byte; what was given already is
  // skipped.
  Status StartOver(const char** data, size_t* size) {
    StopPool();
    {
      std::lock_guard<std::mutex> lock(mu_);
      jobs_.clear();
      stats_.started_over = true;
    }
    current_.reset();
    serial_ = true;
    skip_ = given_;
    read_at_ = 0;
    if (Status s = pieces_.Begin(); !s.ok()) return s;
    return NextSerial(data, size);
  }

  Status NextSerial(const char** data, size_t* size) {
    piece_.resize(kOutputPiece);
    while (!serial_done_) {
      size_t made = 0;
      bool ended = false;
      if (Status s = pieces_.Decode(piece_.data(), piece_.size(), &made, &ended); !s.ok()) {
        return s;
      }
      if (ended) {
        if (Status s = AnotherStream(); !s.ok()) return s;
      } else if (made == 0 && pieces_.pending_input() == 0) {
        if (Status s = Refill(); !s.ok()) return s;
        if (in_.empty()) return Status::Failed("bzip2: the archive ends inside a stream");
      }
      const size_t skipped = static_cast<size_t>(std::min<uint64_t>(skip_, made));
      skip_ -= skipped;
      if (made > skipped) {
        *data = piece_.data() + skipped;
        *size = made - skipped;
        given_ += *size;
        return Status::Ok();
      }
    }
    return Status::Ok();
  }

  Status Refill() {
    in_.resize(kSerialReadBytes);
    size_t got = 0;
    Status s = input_->ReadAt(read_at_, in_.data(), in_.size(), &got);
    in_.resize(s.ok() ? got : 0);
    if (!s.ok()) return s;
    read_at_ += got;
    pieces_.Feed(in_.data(), in_.size());
    return Status::Ok();
  }

  // After a stream's end: another stream, or the end of the data.
  Status AnotherStream() {
    const uint64_t next = read_at_ - pieces_.pending_input();
    std::string head(kBzip2HeadBytes, '\0');
    size_t have = 0;
    while (have < head.size()) {
      size_t got = 0;
      if (Status s = input_->ReadAt(next + have, head.data() + have, head.size() - have, &got);
          !s.ok()) {
        return s;
      }
      if (got == 0) break;
      have += got;
    }
    head.resize(have);
    if (!Recognizes(head)) {
      serial_done_ = true;
      return Status::Ok();
    }
    read_at_ = next;
    return pieces_.Begin();
  }

  ArchiveInput* const input_;
  const Bzip2Options options_;
  Bzip2BlockScanner scanner_;
  const size_t max_in_flight_;
  bool scanned_all_ = false;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  std::deque<std::shared_ptr<Job>> jobs_;  // in the archive's order, being decoded or done
  std::deque<std::shared_ptr<Job>> todo_;  // not started yet
  bool stop_ = false;
  Bzip2Stats stats_;
  std::vector<std::thread> threads_;

  std::shared_ptr<Job> current_;  // whose output the caller holds
  uint64_t given_ = 0;            // bytes handed on so far
  bool in_pieces_ = false;
  Bzip2Memory pieces_memory_;
  PieceDecoder pieces_{&pieces_memory_};
  std::vector<char> piece_;

  // Serial, after starting over.
  bool serial_ = false;
  bool serial_done_ = false;
  uint64_t skip_ = 0;
  uint64_t read_at_ = 0;
  std::vector<char> in_;
};

ParallelBzip2Reader::ParallelBzip2Reader(ArchiveInput* input, const Bzip2Options& options)
    : impl_(std::make_unique<Impl>(input, options)) {}
ParallelBzip2Reader::~ParallelBzip2Reader() = default;

Status ParallelBzip2Reader::Next(const char** data, size_t* size) {
  return impl_->Next(data, size);
}

Bzip2Stats ParallelBzip2Reader::stats() const { return impl_->stats(); }

bool ParallelBzip2Reader::Recognizes(std::string_view head) { return OpensBzip2Stream(head); }

}  // namespace devserver::extract
