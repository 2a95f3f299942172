#include "fcgi/extract/parallel_bzip2.h"

#include <bzlib.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <future>
#include <mutex>
#include <string>
#include <utility>

namespace devserver::extract {
namespace {

// Pseudorandom bytes with runs and text mixed in, so blocks hold every kind of symbol.
std::string Sample(size_t n, uint32_t seed) {
  std::string s;
  s.reserve(n);
  uint32_t x = seed;
  while (s.size() < n) {
    x = x * 1664525u + 1013904223u;
    switch (x >> 30) {
      case 0:
        s.append((x >> 8) % 300, static_cast<char>(x >> 16));
        break;
      case 1:
        s.append("int main(int argc, char** argv) { return argc > 1 ? 0 : 1; }\n");
        break;
      default:
        for (int i = 0; i < 64; ++i) {
          x = x * 1664525u + 1013904223u;
          s.push_back(static_cast<char>(x >> 24));
        }
    }
  }
  s.resize(n);
  return s;
}

std::string Compress(const std::string& data, int level) {
  std::string out(data.size() + data.size() / 100 + 600, '\0');
  auto size = static_cast<unsigned>(out.size());
  const int r = BZ2_bzBuffToBuffCompress(out.data(), &size, const_cast<char*>(data.data()),
                                         static_cast<unsigned>(data.size()), level, 0, 0);
  EXPECT_EQ(r, BZ_OK);
  out.resize(size);
  return out;
}

// An archive in memory, handed out at most `piece` bytes a read; fails at `fail_at` when set.
class MemoryInput : public ArchiveInput {
 public:
  explicit MemoryInput(std::string bytes, size_t piece = SIZE_MAX)
      : bytes_(std::move(bytes)), piece_(piece) {}
  void FailAt(uint64_t offset, Status why) {
    fail_at_ = offset;
    why_ = std::move(why);
  }
  int64_t size() const override { return static_cast<int64_t>(bytes_.size()); }
  Status ReadAt(uint64_t offset, char* buf, size_t n, size_t* got) override {
    *got = 0;
    uint64_t end = std::min<uint64_t>(bytes_.size(), offset + std::min(n, piece_));
    if (end > fail_at_) {
      if (offset >= fail_at_) return why_;
      end = fail_at_;
    }
    if (offset >= end) return Status::Ok();
    std::copy(bytes_.begin() + static_cast<std::ptrdiff_t>(offset),
              bytes_.begin() + static_cast<std::ptrdiff_t>(end), buf);
    *got = static_cast<size_t>(end - offset);
    return Status::Ok();
  }
  uint64_t ready() const override { return UINT64_MAX; }
  Status OpenWhole(int* /*fd*/) override { return Status::Failed("not a file"); }
  int64_t waited_micros() const override { return 0; }

 private:
  std::string bytes_;
  size_t piece_;
  uint64_t fail_at_ = UINT64_MAX;
  Status why_;
};

// An archive whose bytes past `gate` arrive only once Open() is called: reads there wait, as
// a download's reader waits for bytes still to come.
class GatedInput : public MemoryInput {
 public:
  GatedInput(std::string bytes, uint64_t gate) : MemoryInput(std::move(bytes)), gate_(gate) {}
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  uint64_t ready() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return open_ ? UINT64_MAX : gate_;
  }
  Status ReadAt(uint64_t offset, char* buf, size_t n, size_t* got) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (!open_) {
      if (offset >= gate_) cv_.wait(lock, [&] { return open_; });
      if (!open_) n = static_cast<size_t>(std::min<uint64_t>(n, gate_ - offset));
    }
    lock.unlock();
    return MemoryInput::ReadAt(offset, buf, n, got);
  }

 private:
  const uint64_t gate_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Everything the reader gives until the end or a failure (returned).
Status ReadAll(ParallelBzip2Reader* reader, std::string* out) {
  while (true) {
    const char* data = nullptr;
    size_t size = 0;
    Status s = reader->Next(&data, &size);
    if (!s.ok()) return s;
    if (size == 0) return Status::Ok();
    out->append(data, size);
  }
}

Bzip2Options Threads(int n) {
  Bzip2Options options;
  options.threads = n;
  return options;
}

TEST(ParallelBzip2Test, RecognizesWhatLibarchiveTakesForBzip2) {
  EXPECT_TRUE(ParallelBzip2Reader::Recognizes(Compress("x", 9)));
  EXPECT_TRUE(ParallelBzip2Reader::Recognizes(Compress("", 1)));  // header, then the end
  EXPECT_FALSE(ParallelBzip2Reader::Recognizes("BZh0" + Compress("x", 9).substr(4)));
  EXPECT_FALSE(ParallelBzip2Reader::Recognizes("BZh91AY&S"));  // too short
  EXPECT_FALSE(ParallelBzip2Reader::Recognizes(std::string("\x1f\x8b\x08\0\0\0\0\0\0\0", 10)));
}

TEST(ParallelBzip2Test, DecodesEveryBlockOnThePoolInOrder) {
  const std::string data = Sample(3 << 20, 1);
  MemoryInput input(Compress(data, 1));  // blocks of 100 kB before run-length coding: 19
  ParallelBzip2Reader reader(&input, Threads(4));
  std::string out;
  ASSERT_TRUE(ReadAll(&reader, &out).ok());
  EXPECT_TRUE(out == data) << out.size() << " bytes vs " << data.size();
  EXPECT_GE(reader.stats().blocks_in_parallel, 15);
  EXPECT_FALSE(reader.stats().started_over);
}

TEST(ParallelBzip2Test, ReadsAnArchiveThatArrivesInSmallPieces) {
  const std::string data = Sample(1 << 20, 2);
  MemoryInput input(Compress(data, 2), 4093);
  ParallelBzip2Reader reader(&input, Threads(3));
  std::string out;
  ASSERT_TRUE(ReadAll(&reader, &out).ok());
  EXPECT_TRUE(out == data);
  EXPECT_GE(reader.stats().blocks_in_parallel, 3);
  EXPECT_FALSE(reader.stats().started_over);
}

// Decoded blocks are handed on while later bytes have not arrived: the scan does not wait for
// them while a block is being decoded.
TEST(ParallelBzip2Test, DecodedBlocksAreGivenWhileLaterBytesAreStillToCome) {
  const std::string data = Sample(3 << 20, 13);
  const std::string compressed = Compress(data, 1);
  // About 19 blocks; the first three arrive (four blocks in flight would take the fifth's).
  GatedInput input(compressed, compressed.size() / 6);
  ParallelBzip2Reader reader(&input, Threads(2));
  std::string out;
  auto first = std::async(std::launch::async, [&] {
    while (out.size() < data.size() / 10) {
      const char* bytes = nullptr;
      size_t size = 0;
      if (!reader.Next(&bytes, &size).ok() || size == 0) return;
      out.append(bytes, size);
    }
  });
  const std::future_status given = first.wait_for(std::chrono::seconds(20));
  input.Open();
  ASSERT_EQ(given, std::future_status::ready)
      << "the first blocks are not given while later bytes are held back";
  ASSERT_TRUE(ReadAll(&reader, &out).ok());
  EXPECT_TRUE(out == data);
  EXPECT_FALSE(reader.stats().started_over);
}

TEST(ParallelBzip2Test, ConcatenatedStreamsAreOneOutput) {
  const std::string a = Sample(700000, 3);
  const std::string b = Sample(300000, 4);
  MemoryInput input(Compress(a, 1) + Compress("", 5) + Compress(b, 9));
  ParallelBzip2Reader reader(&input, Threads(2));
  std::string out;
  ASSERT_TRUE(ReadAll(&reader, &out).ok());
  EXPECT_TRUE(out == a + b);
  EXPECT_FALSE(reader.stats().started_over);
}

TEST(ParallelBzip2Test, AnEmptyStreamGivesNothing) {
  MemoryInput input(Compress("", 9));
  ParallelBzip2Reader reader(&input, Threads(2));
  std::string out;
  ASSERT_TRUE(ReadAll(&reader, &out).ok());
  EXPECT_EQ(out, "");
}

TEST(ParallelBzip2Test, BytesAfterTheLastStreamAreIgnored) {
  const std::string data = Sample(400000, 5);
  MemoryInput input(Compress(data, 1) + "not another stream");
  ParallelBzip2Reader reader(&input, Threads(2));
  std::string out;
  ASSERT_TRUE(ReadAll(&reader, &out).ok());
  EXPECT_TRUE(out == data);
  EXPECT_FALSE(reader.stats().started_over);
}

TEST(ParallelBzip2Test, ABlockThatExpandsPastTheCapIsDecodedInPieces) {
  // Runs of one byte: a 100 kB block of run lengths decodes to megabytes.
  std::string data(24 << 20, 'z');
  data += Sample(300000, 6);
  MemoryInput input(Compress(data, 1));
  Bzip2Options options = Threads(2);
  options.max_block_output = 1 << 20;
  ParallelBzip2Reader reader(&input, options);
  std::string out;
  ASSERT_TRUE(ReadAll(&reader, &out).ok());
  EXPECT_TRUE(out == data);
  EXPECT_GE(reader.stats().blocks_in_pieces, 1);
  EXPECT_GE(reader.stats().blocks_in_parallel, 1);
  EXPECT_FALSE(reader.stats().started_over);
}

TEST(ParallelBzip2Test, AFalseBoundaryMakesItStartOverAndGiveTheSameBytes) {
  const std::string data = Sample(2 << 20, 7);
  const std::string compressed = Compress(data, 1);
  MemoryInput input(compressed);
  Bzip2Options options = Threads(3);
  // Mid-archive, at an odd bit: the blocks on either side of it no longer decode.
  options.false_boundary_bit = compressed.size() * 8 / 2 + 3;
  ParallelBzip2Reader reader(&input, options);
  std::string out;
  ASSERT_TRUE(ReadAll(&reader, &out).ok());
  EXPECT_TRUE(out == data);
  EXPECT_TRUE(reader.stats().started_over);
  EXPECT_GE(reader.stats().blocks_in_parallel, 3);  // the blocks before it were given already
}

// What the reader gave before failing is a prefix of the data: never a wrong byte.
void ExpectPrefix(const std::string& out, const std::string& data) {
  ASSERT_LE(out.size(), data.size());
  EXPECT_TRUE(data.compare(0, out.size(), out) == 0);
}

TEST(ParallelBzip2Test, ACorruptBlockFailsWithLibbz2sVerdict) {
  const std::string data = Sample(2 << 20, 8);
  std::string compressed = Compress(data, 1);
  compressed[compressed.size() * 2 / 3] ^= 0x10;
  MemoryInput input(compressed);
  ParallelBzip2Reader reader(&input, Threads(2));
  std::string out;
  const Status s = ReadAll(&reader, &out);
  EXPECT_EQ(s.message(), "bzip2: corrupt data (a block's CRC or structure is wrong)");
  EXPECT_TRUE(reader.stats().started_over);
  ExpectPrefix(out, data);
  EXPECT_GT(out.size(), data.size() / 3);
}

TEST(ParallelBzip2Test, ACutArchiveFails) {
  const std::string data = Sample(1 << 20, 9);
  const std::string compressed = Compress(data, 1);
  MemoryInput input(compressed.substr(0, compressed.size() * 2 / 3));
  ParallelBzip2Reader reader(&input, Threads(2));
  std::string out;
  EXPECT_EQ(ReadAll(&reader, &out).message(), "bzip2: the archive ends inside a stream");
  ExpectPrefix(out, data);
}

TEST(ParallelBzip2Test, TheInputsFailureIsTheCause) {
  const std::string compressed = Compress(Sample(1 << 20, 10), 1);
  MemoryInput input(compressed, 65536);
  input.FailAt(compressed.size() / 2, Status::Unavailable("its download started over"));
  ParallelBzip2Reader reader(&input, Threads(2));
  std::string out;
  const Status s = ReadAll(&reader, &out);
  EXPECT_EQ(s.code(), Status::Code::kUnavailable);
  EXPECT_EQ(s.message(), "its download started over");
}

TEST(ParallelBzip2Test, ALevel9ArchiveOnOneThreadAndOnEight) {
  const std::string data = Sample(4 << 20, 11);
  const std::string compressed = Compress(data, 9);
  for (int threads : {1, 8}) {
    MemoryInput input(compressed);
    ParallelBzip2Reader reader(&input, Threads(threads));
    std::string out;
    ASSERT_TRUE(ReadAll(&reader, &out).ok()) << threads;
    EXPECT_TRUE(out == data) << threads;
    EXPECT_GE(reader.stats().blocks_in_parallel, 3) << threads;
  }
}

int64_t ResidentKiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

// The decoders' blocks and libbz2's tables (3.6 MB a thread at level 9) are given back when
// the reader is done, not kept in the worker's malloc arenas (17 MiB more were resident after
// this test with libbz2's own allocator; about 3 MiB are the reader's thread stacks and scan
// window, which glibc keeps).
TEST(ParallelBzip2Test, ItsMemoryGoesBackWhenItIsDone) {
  const std::string data = Sample(8 << 20, 14);
  const std::string compressed = Compress(data, 9);
  MemoryInput input(compressed);
  std::string out(data.size(), '\0');  // its pages resident before the count
  out.clear();
  const int64_t before = ResidentKiB();
  {
    ParallelBzip2Reader reader(&input, Threads(4));
    ASSERT_TRUE(ReadAll(&reader, &out).ok());
  }
  const int64_t after = ResidentKiB();
  EXPECT_TRUE(out == data);
  EXPECT_LT(after - before, 6 << 10) << before << " KiB before, " << after << " KiB after";
}

TEST(ParallelBzip2Test, AReaderLeftMidwayStopsItsThreads) {
  MemoryInput input(Compress(Sample(3 << 20, 12), 1));
  for (int i = 0; i < 20; ++i) {
    ParallelBzip2Reader reader(&input, Threads(4));
    const char* data = nullptr;
    size_t size = 0;
    ASSERT_TRUE(reader.Next(&data, &size).ok());
    EXPECT_GT(size, 0u);
  }  // each destructor joins its pool with blocks still queued
}

}  // namespace
}  // namespace devserver::extract
