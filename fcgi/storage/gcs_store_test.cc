// The GCS store against the fake GCS server: listing, metadata, and downloads under injected
// faults, checked through the fake's request counters.
#include "fcgi/storage/gcs_store.h"

#include <Poco/Base64Encoder.h>
#include <Poco/MD5Engine.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "fcgi/base/fault_env.h"
#include "fcgi/base/fs.h"
#include "fcgi/storage/crc32c.h"
#include "fcgi/storage/gcs_store_test_fixture.h"
#include "tests/fakegcs/fakegcs_process.h"
#include "tests/support/temp_dir.h"

namespace devserver::storage {
namespace {

using ::testing::HasSubstr;

class GcsStoreTest : public FakeGcsStoreTest {};

TEST_F(GcsStoreTest, ListReadsEveryPageInNameOrder) {
  std::vector<ObjectInfo> want;
  for (const char* leaf : {"g", "a", "f", "b", "e", "c", "d"}) {
    want.push_back(Put(std::string("list/") + leaf + ".bin", RandomBytes(100 + leaf[0], leaf[0])));
  }
  Put("other/x.bin", "x");
  std::sort(want.begin(), want.end(),
            [](const ObjectInfo& a, const ObjectInfo& b) { return a.name < b.name; });
  fake_->Reset();
  GcsOptions options = Options();
  options.list_page_size = 3;

  std::vector<ObjectInfo> got;
  const Status s = Store(options)->List(kBucket, "list/", &got);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].bucket, kBucket);
    EXPECT_EQ(got[i].name, want[i].name);
    EXPECT_EQ(got[i].size, want[i].size);
    EXPECT_EQ(got[i].generation, want[i].generation);
    EXPECT_EQ(got[i].crc32c, want[i].crc32c);
    EXPECT_EQ(got[i].md5, want[i].md5);
  }
  EXPECT_EQ(fake_->Counters().list, 3u);  // 3 + 3 + 1
}

TEST_F(GcsStoreTest, ListFiltersByPrefix) {
  Put("pre/ab/1.bin", "1");
  Put("pre/ab/2.bin", "2");
  Put("pre/ac/3.bin", "3");
  Put("pre/b.bin", "4");
  std::vector<ObjectInfo> got;
  ASSERT_TRUE(Store()->List(kBucket, "pre/a", &got).ok());
  std::vector<std::string> names;
  names.reserve(got.size());
  for (const auto& o : got) names.push_back(o.name);
  EXPECT_EQ(names, (std::vector<std::string>{"pre/ab/1.bin", "pre/ab/2.bin", "pre/ac/3.bin"}));

  ASSERT_TRUE(Store()->List(kBucket, "pre/zzz", &got).ok());
  EXPECT_TRUE(got.empty());
}

TEST_F(GcsStoreTest, ListOfMissingBucketIsNotFound) {
  std::vector<ObjectInfo> got;
  const Status s = Store()->List("no-such-bucket", "", &got);
  EXPECT_EQ(s.code(), Status::Code::kNotFound) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("gs://no-such-bucket/"));
}

TEST_F(GcsStoreTest, StatReturnsMetadata) {
  const std::string bytes = RandomBytes(12345, 1);
  const ObjectInfo want = Put("stat/a b+c%d.bin", bytes);
  fake_->Reset();
  ObjectInfo got;
  const Status s = Store()->Stat(kBucket, want.name, &got);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(got.bucket, kBucket);
  EXPECT_EQ(got.name, want.name);
  EXPECT_EQ(got.size, 12345u);
  EXPECT_EQ(got.generation, want.generation);
  EXPECT_EQ(got.crc32c, want.crc32c);
  EXPECT_EQ(got.md5, want.md5);
  EXPECT_EQ(fake_->Counters().Of(std::string(kBucket) + "/" + want.name).metadata, 1u);
}

TEST_F(GcsStoreTest, StatOfMissingObjectIsNotFoundWithoutRetry) {
  ObjectInfo got;
  const Status s = Store()->Stat(kBucket, "stat/missing.bin", &got);
  EXPECT_EQ(s.code(), Status::Code::kNotFound) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("gs://bkt/stat/missing.bin: not found"));
  EXPECT_EQ(fake_->Counters().Of("bkt/stat/missing.bin").metadata, 1u);
}

TEST_F(GcsStoreTest, StatRetriesRateLimits) {
  const ObjectInfo want = Put("stat/limited.bin", "abc");
  fake_->AddFault("bkt/stat/limited.bin", Fault().Status(429).Count(2).AllScopes());
  ObjectInfo got;
  const Status s = Store()->Stat(kBucket, want.name, &got);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(got.generation, want.generation);
  EXPECT_EQ(fake_->Counters().Of("bkt/stat/limited.bin").metadata, 3u);
}

TEST_F(GcsStoreTest, ReadSmallReadsWholeObjectsUpToTheLimit) {
  Put("small/manifest.json", R"({"a":1})");
  std::string contents;
  Status s = Store()->ReadSmall(kBucket, "small/manifest.json", 100, &contents);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(contents, R"({"a":1})");

  s = Store()->ReadSmall(kBucket, "small/manifest.json", 3, &contents);
  EXPECT_EQ(s.code(), Status::Code::kFailed) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("more than the 3 bytes"));

  s = Store()->ReadSmall(kBucket, "small/none.json", 100, &contents);
  EXPECT_EQ(s.code(), Status::Code::kNotFound) << s.ToString();
}

TEST_F(GcsStoreTest, FetchWritesIdenticalBytesWithOneGet) {
  const std::string bytes = RandomBytes((3 << 20) + 17, 2);
  const ObjectInfo info = Put("fetch/whole.bin", bytes);
  RecordingObserver observer;
  const Status s = Store()->Fetch(info, Dest(), &observer);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Contents(Dest()), bytes);
  EXPECT_EQ(MediaGets(info.name), 1u);
  EXPECT_EQ(fake_->Counters().media_bytes, bytes.size());
}

TEST_F(GcsStoreTest, FetchReportsMonotonicProgressEndingAtSize) {
  const std::string bytes = RandomBytes(9 << 20, 3);
  const ObjectInfo info = Put("fetch/progress.bin", bytes);
  RecordingObserver observer;
  ASSERT_TRUE(Store()->Fetch(info, Dest(), &observer).ok());
  ASSERT_FALSE(observer.progress.empty());
  uint64_t last = 0;
  for (const auto& [done, total] : observer.progress) {
    EXPECT_EQ(total, bytes.size());
    EXPECT_GE(done, last);
    EXPECT_LE(done - last, 4u << 20) << "progress gap";
    last = done;
  }
  EXPECT_EQ(last, bytes.size());
}

TEST_F(GcsStoreTest, FetchOfEmptyObject) {
  const ObjectInfo info = Put("fetch/empty.bin", "");
  ASSERT_TRUE(Store()->Fetch(info, Dest(), nullptr).ok());
  EXPECT_EQ(Contents(Dest()), "");
}

TEST_F(GcsStoreTest, FetchRetriesServerErrors) {
  const std::string bytes = RandomBytes(1 << 20, 4);
  const ObjectInfo info = Put("fetch/flaky.bin", bytes);
  fake_->AddFault("bkt/fetch/flaky.bin", Fault().Status(503).Count(2));
  const Status s = Store()->Fetch(info, Dest(), nullptr);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Contents(Dest()), bytes);
  EXPECT_EQ(MediaGets(info.name), 3u);
}

TEST_F(GcsStoreTest, FetchOfMissingObjectIsNotFoundAfterOneGet) {
  fake_->CreateBucket(kBucket);
  ObjectInfo info;
  info.bucket = kBucket;
  info.name = "fetch/missing.bin";
  info.size = 10;
  info.generation = 1234;
  const Status s = Store()->Fetch(info, Dest(), nullptr);
  EXPECT_EQ(s.code(), Status::Code::kNotFound) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("gs://bkt/fetch/missing.bin: not found"));
  EXPECT_EQ(MediaGets(info.name), 1u);
}

TEST_F(GcsStoreTest, FetchResumesWithRangeAfterTruncation) {
  const std::string bytes = RandomBytes(3 << 20, 5);
  const ObjectInfo info = Put("fetch/cut.bin", bytes);
  fake_->AddFault("bkt/fetch/cut.bin", Fault().TruncateAt((1 << 20) + 7).Count(1));
  const Status s = Store()->Fetch(info, Dest(), nullptr);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Contents(Dest()), bytes);
  EXPECT_EQ(MediaGets(info.name), 2u);
  // A resume sends only the missing bytes; starting over would send more than the object.
  EXPECT_EQ(fake_->Counters().media_bytes, bytes.size());
}

TEST_F(GcsStoreTest, FetchDetectsCorruptionWithoutRetry) {
  const std::string bytes = RandomBytes(1 << 20, 6);
  const ObjectInfo info = Put("fetch/corrupt.bin", bytes);
  fake_->AddFault("bkt/fetch/corrupt.bin", Fault().CorruptAt(1000).Count(1));
  const Status s = Store()->Fetch(info, Dest(), nullptr);
  EXPECT_EQ(s.code(), Status::Code::kFailed);
  EXPECT_THAT(s.message(), HasSubstr("gs://bkt/fetch/corrupt.bin: checksum mismatch: downloaded "
                                     "crc32c "));
  EXPECT_THAT(s.message(), HasSubstr(", GCS says " + info.crc32c));
  EXPECT_EQ(MediaGets(info.name), 1u);
}

TEST_F(GcsStoreTest, FetchVerifiesMd5WhenThereIsNoCrc32c) {
  const std::string bytes = RandomBytes(100000, 7);
  ObjectInfo info = Put("fetch/md5.bin", bytes);
  info.crc32c.clear();
  ASSERT_TRUE(Store()->Fetch(info, Dest(), nullptr).ok());
  info.md5 = Md5Base64("something else");
  const Status s = Store()->Fetch(info, Dest(), nullptr);
  EXPECT_THAT(s.message(), HasSubstr("checksum mismatch: downloaded md5 " + Md5Base64(bytes) +
                                     ", GCS says " + info.md5));
}

TEST_F(GcsStoreTest, FetchFailsWhenTheBodyStalls) {
  const std::string bytes = RandomBytes(2 << 20, 8);
  const ObjectInfo info = Put("fetch/stall.bin", bytes);
  fake_->AddFault("bkt/fetch/stall.bin", Fault().StallAt(300000).Count(1));
  GcsOptions options = Options();
  options.stall_timeout_ms = 500;
  const auto start = std::chrono::steady_clock::now();
  const Status s = Store(options)->Fetch(info, Dest(), nullptr);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(s.code(), Status::Code::kFailed);
  EXPECT_EQ(s.message(),
            "gs://bkt/fetch/stall.bin: stalled after 300000 of 2097152 bytes (no data for 0.5 s)");
  EXPECT_GE(elapsed, std::chrono::milliseconds(500));
  EXPECT_LE(elapsed, std::chrono::milliseconds(2000));
  EXPECT_EQ(MediaGets(info.name), 1u);
}

TEST_F(GcsStoreTest, FetchGivesUpAfterMaxAttempts) {
  const ObjectInfo info = Put("fetch/storm.bin", RandomBytes(1000, 9));
  fake_->AddFault("bkt/fetch/storm.bin", Fault().Status(503));
  GcsOptions options = Options();
  options.max_attempts = 3;
  const Status s = Store(options)->Fetch(info, Dest(), nullptr);
  EXPECT_EQ(s.code(), Status::Code::kFailed);
  EXPECT_THAT(s.message(), HasSubstr("gs://bkt/fetch/storm.bin: giving up after 3 attempts: "
                                     "HTTP 503"));
  EXPECT_EQ(MediaGets(info.name), 3u);
}

TEST_F(GcsStoreTest, FetchDoesNotRetryPermissionDenied) {
  const ObjectInfo info = Put("fetch/denied.bin", "x");
  fake_->AddFault("bkt/fetch/denied.bin", Fault().Status(403));
  const Status s = Store()->Fetch(info, Dest(), nullptr);
  EXPECT_EQ(s.code(), Status::Code::kFailed);
  EXPECT_THAT(s.message(), HasSubstr("gs://bkt/fetch/denied.bin: permission denied (HTTP 403"));
  EXPECT_EQ(MediaGets(info.name), 1u);
}

TEST_F(GcsStoreTest, FetchOfReplacedGenerationFailsBeforeWriting) {
  const ObjectInfo info = Put("fetch/replaced.bin", RandomBytes(5000, 10));
  const int64_t newer = fake_->PutObject(kBucket, info.name, RandomBytes(6000, 11));
  ASSERT_NE(newer, info.generation);
  const Status s = Store()->Fetch(info, Dest(), nullptr);
  EXPECT_EQ(s.code(), Status::Code::kFailed);
  EXPECT_EQ(s.message(), "gs://bkt/fetch/replaced.bin: object replaced (generation " +
                             std::to_string(info.generation) + " is gone, now " +
                             std::to_string(newer) + ")");
  EXPECT_EQ(Contents(Dest()), "");
  EXPECT_EQ(MediaGets(info.name), 1u);
}

TEST_F(GcsStoreTest, FetchNeverResumesIntoANewerGeneration) {
  const std::string bytes = RandomBytes(4 << 20, 12);
  const ObjectInfo info = Put("fetch/swap.bin", bytes);
  fake_->AddFault("bkt/fetch/swap.bin", Fault().TruncateAt(2 << 20).Count(1));
  RecordingObserver observer;
  int64_t newer = 0;
  observer.on_progress = [&](uint64_t) {
    if (newer == 0) newer = fake_->PutObject(kBucket, info.name, RandomBytes(4 << 20, 13));
  };
  const Status s = Store()->Fetch(info, Dest(), &observer);
  EXPECT_EQ(s.code(), Status::Code::kFailed);
  EXPECT_EQ(s.message(), "gs://bkt/fetch/swap.bin: object replaced during download (generation " +
                             std::to_string(info.generation) + " is gone, now " +
                             std::to_string(newer) + ")");
  EXPECT_EQ(MediaGets(info.name), 2u);
  EXPECT_EQ(Contents(Dest()), bytes.substr(0, 2 << 20));  // old bytes only, never mixed
}

TEST_F(GcsStoreTest, FetchStopsWhenCancelled) {
  const ObjectInfo info = Put("fetch/cancel.bin", RandomBytes(4 << 20, 14));
  RecordingObserver observer;
  observer.cancel_after_first_progress = true;
  const Status s = Store()->Fetch(info, Dest(), &observer);
  EXPECT_EQ(s.code(), Status::Code::kFailed);
  EXPECT_EQ(s.message(), "gs://bkt/fetch/cancel.bin: cancelled");
  EXPECT_EQ(observer.progress.size(), 1u);
  EXPECT_EQ(MediaGets(info.name), 1u);
}

TEST_F(GcsStoreTest, FetchIntoAFullDiskIsAnIOError) {
  const std::string mnt = dir_.Sub("small");
  ASSERT_TRUE(MakeDirectories(mnt, 0755).ok());
  if (mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=1m") != 0) {
    GTEST_SKIP() << "cannot mount a 1 MiB tmpfs here: " << ErrnoText(errno);
  }
  const ObjectInfo info = Put("fetch/big.bin", RandomBytes(2 << 20, 15));
  const Status s = Store()->Fetch(info, mnt + "/big.bin", nullptr);
  umount2(mnt.c_str(), MNT_DETACH);
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_THAT(s.message(), HasSubstr("No space left on device"));
  EXPECT_THAT(s.message(), HasSubstr(mnt + "/big.bin"));
  EXPECT_EQ(MediaGets(info.name), 0u);  // found out before transferring anything
}

// GcsOptions::env carries the destination file: its faults are the local disk's, reported as
// IOError naming the file and never retried against GCS.
TEST_F(GcsStoreTest, FetchReportsDiskFaultsOfItsEnvWithoutRetrying) {
  const std::string bytes = RandomBytes(3 << 20, 17);
  const ObjectInfo info = Put("fetch/faulty.bin", bytes);
  FaultInjectionEnv env(Env::Default());
  FaultRule full;
  full.op = FaultOp::kWrite;
  full.path = "out.bin";
  full.err = ENOSPC;
  full.skip = 1;  // after the first buffer-full reached the disk
  env.Add(full);
  GcsOptions options = Options();
  options.env = &env;
  const auto store = Store(options);
  Status s = store->Fetch(info, Dest(), nullptr);
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_EQ(s.message(), "write " + Dest() + ": No space left on device");
  EXPECT_EQ(MediaGets(info.name), 1u);

  FaultRule eio;
  eio.op = FaultOp::kSync;
  eio.path = "out.bin";
  eio.err = EIO;
  env.Add(eio);
  s = store->Fetch(info, Dest(), nullptr);
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_EQ(s.message(), "fsync " + Dest() + ": Input/output error");
  EXPECT_EQ(MediaGets(info.name), 2u);
  EXPECT_EQ(env.Injected(), 2);

  ASSERT_TRUE(store->Fetch(info, Dest(), nullptr).ok());
  EXPECT_EQ(Contents(Dest()), bytes);
}

TEST_F(GcsStoreTest, FetchWithoutGenerationPinsTheFirstOneServed) {
  const std::string bytes = RandomBytes(2 << 20, 16);
  ObjectInfo info = Put("fetch/unpinned.bin", bytes);
  info.generation = 0;
  fake_->AddFault("bkt/fetch/unpinned.bin", Fault().TruncateAt(1 << 20).Count(1));
  ASSERT_TRUE(Store()->Fetch(info, Dest(), nullptr).ok());
  EXPECT_EQ(Contents(Dest()), bytes);
  EXPECT_EQ(MediaGets(info.name), 2u);
}

TEST_F(GcsStoreTest, ConcurrentFetchesShareOneStore) {
  constexpr size_t kThreads = 4;
  constexpr size_t kPerThread = 3;
  std::vector<ObjectInfo> infos;
  std::vector<std::string> contents;
  for (size_t i = 0; i < kThreads * kPerThread; ++i) {
    contents.push_back(RandomBytes((1 << 20) + i, static_cast<uint32_t>(100 + i)));
    infos.push_back(Put("concurrent/" + std::to_string(i) + ".bin", contents.back()));
  }
  // Every third object fails once mid-body, so resumes run alongside clean downloads.
  for (size_t i = 0; i < kThreads * kPerThread; i += 3) {
    fake_->AddFault("bkt/" + infos[i].name, Fault().TruncateAt(300000).Count(1));
  }
  auto store = Store();
  std::vector<Status> results(infos.size());
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (size_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (size_t k = 0; k < kPerThread; ++k) {
        const size_t i = t * kPerThread + k;
        results[i] = store->Fetch(infos[i], Dest(std::to_string(i)), nullptr);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (size_t i = 0; i < infos.size(); ++i) {
    ASSERT_TRUE(results[i].ok()) << results[i].ToString();
    EXPECT_TRUE(Contents(Dest(std::to_string(i))) == contents[i]) << i;
    EXPECT_EQ(MediaGets(infos[i].name), i % 3 == 0 ? 2u : 1u) << i;
  }
}

}  // namespace
}  // namespace devserver::storage
