// Sliced downloads against the fake GCS server: slice geometry, parallel connections, faults
// aimed at one slice (the fake's range_start), generation changes and cancellation.
#include "fcgi/storage/gcs_sliced_download.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "fcgi/storage/gcs_store_test_fixture.h"

namespace devserver::storage {
namespace {

using ::testing::HasSubstr;

// Small numbers so every test is quick: objects of a few MiB cut into 300,000-byte slices (not a
// divisor of anything here, so last slices are short).
constexpr uint64_t kThreshold = 1 << 20;
constexpr uint64_t kSliceSize = 300'000;
constexpr int kMaxSlices = 4;

class SlicedDownloadTest : public FakeGcsStoreTest {
 protected:
  void TearDown() override { fake_->SetPace(0); }

  static GcsOptions SlicedOptions() {
    GcsOptions o = Options();
    o.slice_threshold = kThreshold;
    o.slice_size = kSliceSize;
    o.max_slices = kMaxSlices;
    return o;
  }

  static uint64_t SliceCount(uint64_t size) { return (size + kSliceSize - 1) / kSliceSize; }

  bool PartFileLeft() const { return access((Dest() + ".part").c_str(), F_OK) == 0; }
  bool DestExists() const { return access(Dest().c_str(), F_OK) == 0; }
};

TEST(PlanSlicesTest, CutsIntoEqualSlicesWithAShortLastOne) {
  const std::vector<Slice> slices = PlanSlices(1000, 300);
  ASSERT_EQ(slices.size(), 4u);
  EXPECT_EQ(slices[0].begin, 0u);
  EXPECT_EQ(slices[0].end, 300u);
  EXPECT_EQ(slices[3].begin, 900u);
  EXPECT_EQ(slices[3].end, 1000u);
  EXPECT_EQ(PlanSlices(900, 300).size(), 3u);
  EXPECT_EQ(PlanSlices(900, 300).back().end, 900u);
  EXPECT_TRUE(PlanSlices(0, 300).empty());
}

TEST_F(SlicedDownloadTest, AnObjectAboveTheThresholdArrivesWholeOverParallelSlices) {
  const std::string bytes = RandomBytes(3'000'001, 1);  // 11 slices, the last one byte
  const ObjectInfo info = Put("sliced/big.bin", bytes);
  // Paced, so that the slices' streams overlap for the fake to see them at once.
  fake_->SetPace(4 << 20);
  RecordingObserver observer;
  const Status s = Store(SlicedOptions())->Fetch(info, Dest(), &observer);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Contents(Dest()), bytes);
  EXPECT_FALSE(PartFileLeft());
  const auto counters = fake_->Counters();
  EXPECT_EQ(counters.Of("bkt/sliced/big.bin").media, SliceCount(bytes.size()));
  EXPECT_EQ(counters.media_bytes, bytes.size());
  EXPECT_EQ(counters.media_streams_max, static_cast<uint64_t>(kMaxSlices));
  ASSERT_FALSE(observer.progress.empty());
  for (size_t i = 1; i < observer.progress.size(); ++i) {
    EXPECT_GE(observer.progress[i].first, observer.progress[i - 1].first);
  }
  EXPECT_EQ(observer.progress.back(),
            std::make_pair(uint64_t{bytes.size()}, uint64_t{bytes.size()}));
}

TEST_F(SlicedDownloadTest, TheHostWideConnectionCapHoldsOverAllStoresAndSlices) {
  // Two stores, as two worker processes would have, share the cap through the lock file.
  const std::string a = RandomBytes(2'000'000, 13);
  const std::string b = RandomBytes(2'100'000, 14);
  const ObjectInfo info_a = Put("sliced/cap-a.bin", a);
  const ObjectInfo info_b = Put("sliced/cap-b.bin", b);
  fake_->SetPace(4 << 20);
  GcsOptions options = SlicedOptions();
  options.max_connections = 3;
  options.connections_lock_file = dir_.Sub("connections.lock");
  Status status_b;
  std::thread other([&] { status_b = Store(options)->Fetch(info_b, Dest("b.bin"), nullptr); });
  const Status status_a = Store(options)->Fetch(info_a, Dest("a.bin"), nullptr);
  other.join();
  ASSERT_TRUE(status_a.ok()) << status_a.ToString();
  ASSERT_TRUE(status_b.ok()) << status_b.ToString();
  EXPECT_EQ(Contents(Dest("a.bin")), a);
  EXPECT_EQ(Contents(Dest("b.bin")), b);
  EXPECT_EQ(fake_->Counters().media_streams_max, 3u);
}

TEST_F(SlicedDownloadTest, AnObjectOfExactlyTheThresholdIsSliced) {
  const std::string bytes = RandomBytes(kThreshold, 2);
  const ObjectInfo info = Put("sliced/at.bin", bytes);
  ASSERT_TRUE(Store(SlicedOptions())->Fetch(info, Dest(), nullptr).ok());
  EXPECT_EQ(Contents(Dest()), bytes);
  EXPECT_EQ(MediaGets(info.name), SliceCount(bytes.size()));
}

TEST_F(SlicedDownloadTest, AnObjectBelowTheThresholdIsOneStream) {
  const std::string bytes = RandomBytes(kThreshold - 1, 3);
  const ObjectInfo info = Put("sliced/below.bin", bytes);
  ASSERT_TRUE(Store(SlicedOptions())->Fetch(info, Dest(), nullptr).ok());
  EXPECT_EQ(Contents(Dest()), bytes);
  EXPECT_EQ(MediaGets(info.name), 1u);
}

TEST_F(SlicedDownloadTest, WithoutAKnownCrc32cTheObjectIsOneStream) {
  // The slices' CRCs combine into the object's; with only an MD5 there is nothing to combine.
  const std::string bytes = RandomBytes(2 << 20, 4);
  ObjectInfo info = Put("sliced/md5only.bin", bytes);
  info.crc32c.clear();
  ASSERT_TRUE(Store(SlicedOptions())->Fetch(info, Dest(), nullptr).ok());
  EXPECT_EQ(Contents(Dest()), bytes);
  EXPECT_EQ(MediaGets(info.name), 1u);
}

TEST_F(SlicedDownloadTest, ACutSliceResumesAloneFromWhereItStopped) {
  const std::string bytes = RandomBytes(2 << 20, 5);
  const ObjectInfo info = Put("sliced/cut.bin", bytes);
  fake_->AddFault("bkt/sliced/cut.bin",
                  Fault().RangeStart(3 * kSliceSize).TruncateAt(12'345).Count(1));
  const Status s = Store(SlicedOptions())->Fetch(info, Dest(), nullptr);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Contents(Dest()), bytes);
  EXPECT_EQ(MediaGets(info.name), SliceCount(bytes.size()) + 1);
  // Only the cut slice's missing bytes were sent again: nothing twice.
  EXPECT_EQ(fake_->Counters().media_bytes, bytes.size());
}

TEST_F(SlicedDownloadTest, AStalledSliceIsRetriedAloneFromWhereItStopped) {
  const std::string bytes = RandomBytes(2 << 20, 6);
  const ObjectInfo info = Put("sliced/stall.bin", bytes);
  fake_->AddFault("bkt/sliced/stall.bin",
                  Fault().RangeStart(2 * kSliceSize).StallAt(50'000).Count(1));
  GcsOptions options = SlicedOptions();
  options.stall_timeout_ms = 500;
  const Status s = Store(options)->Fetch(info, Dest(), nullptr);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Contents(Dest()), bytes);
  EXPECT_EQ(MediaGets(info.name), SliceCount(bytes.size()) + 1);
  EXPECT_EQ(fake_->Counters().media_bytes, bytes.size());
}

TEST_F(SlicedDownloadTest, ServerErrorsOnOneSliceAreRetried) {
  const std::string bytes = RandomBytes(2 << 20, 7);
  const ObjectInfo info = Put("sliced/503.bin", bytes);
  fake_->AddFault("bkt/sliced/503.bin", Fault().RangeStart(kSliceSize).Status(503).Count(2));
  const Status s = Store(SlicedOptions())->Fetch(info, Dest(), nullptr);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Contents(Dest()), bytes);
  EXPECT_EQ(MediaGets(info.name), SliceCount(bytes.size()) + 2);
}

TEST_F(SlicedDownloadTest, ASliceThatKeepsFailingFailsTheObjectWithItsCause) {
  const std::string bytes = RandomBytes(2 << 20, 8);
  const ObjectInfo info = Put("sliced/storm.bin", bytes);
  fake_->AddFault("bkt/sliced/storm.bin", Fault().RangeStart(4 * kSliceSize).Status(503));
  GcsOptions options = SlicedOptions();
  options.max_attempts = 3;
  const Status s = Store(options)->Fetch(info, Dest(), nullptr);
  EXPECT_EQ(s.code(), Status::Code::kFailed);
  EXPECT_THAT(s.message(), HasSubstr("gs://bkt/sliced/storm.bin (bytes 1200000-1499999): giving up "
                                     "after 3 attempts: HTTP 503"));
  EXPECT_FALSE(DestExists());
  EXPECT_FALSE(PartFileLeft());
}

TEST_F(SlicedDownloadTest, ACorruptByteFailsTheCombinedChecksum) {
  const std::string bytes = RandomBytes(2 << 20, 9);
  const ObjectInfo info = Put("sliced/corrupt.bin", bytes);
  // Slice 3 (bytes 900,000-1,199,999) is the one that carries the byte.
  fake_->AddFault("bkt/sliced/corrupt.bin",
                  Fault().RangeStart(3 * kSliceSize).CorruptAt(1'000'000).Count(1));
  const Status s = Store(SlicedOptions())->Fetch(info, Dest(), nullptr);
  EXPECT_EQ(s.code(), Status::Code::kFailed);
  std::string received = bytes;  // as the fake sent it: that one byte inverted
  received[1'000'000] = static_cast<char>(~received[1'000'000]);
  EXPECT_EQ(s.message(), "gs://bkt/sliced/corrupt.bin: checksum mismatch: downloaded crc32c " +
                             Crc32cBase64(Crc32c(received.data(), received.size())) +
                             ", GCS says " + info.crc32c);
  EXPECT_FALSE(DestExists());
  EXPECT_FALSE(PartFileLeft());
}

TEST_F(SlicedDownloadTest, AGenerationReplacedMidwayFailsAndLeavesNothing) {
  const std::string bytes = RandomBytes(3 << 20, 10);
  const ObjectInfo info = Put("sliced/replaced.bin", bytes);
  fake_->SetPace(2 << 20);  // so the replacement lands while slices are still to be asked for
  GcsOptions options = SlicedOptions();
  options.max_slices = 2;
  RecordingObserver observer;
  std::atomic<bool> replaced{false};
  observer.on_progress = [&](uint64_t) {
    if (!replaced.exchange(true)) Put("sliced/replaced.bin", RandomBytes(3 << 20, 11));
  };
  const Status s = Store(options)->Fetch(info, Dest(), &observer);
  ASSERT_TRUE(replaced);
  EXPECT_EQ(s.code(), Status::Code::kFailed);
  EXPECT_THAT(s.message(), HasSubstr("gs://bkt/sliced/replaced.bin: object replaced during "
                                     "download (generation " +
                                     std::to_string(info.generation) + " is gone"));
  EXPECT_FALSE(DestExists());
  EXPECT_FALSE(PartFileLeft());
}

TEST_F(SlicedDownloadTest, CancellingStopsEverySlice) {
  const std::string bytes = RandomBytes(3 << 20, 12);
  const ObjectInfo info = Put("sliced/cancel.bin", bytes);
  fake_->SetPace(512 << 10);  // 1.5 s at four slices at once
  RecordingObserver observer;
  observer.cancel_after_first_progress = true;
  const Status s = Store(SlicedOptions())->Fetch(info, Dest(), &observer);
  EXPECT_EQ(s.code(), Status::Code::kFailed);
  EXPECT_EQ(s.message(), "gs://bkt/sliced/cancel.bin: cancelled");
  EXPECT_FALSE(DestExists());
  EXPECT_FALSE(PartFileLeft());
  // Cancelled at the first progress report (the first slice's first bytes taken): the slices
  // in flight stopped and no further slice was asked for.
  EXPECT_LT(MediaGets(info.name), SliceCount(bytes.size()));
  EXPECT_LT(fake_->Counters().media_bytes, bytes.size());
}

}  // namespace
}  // namespace devserver::storage
