#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "fcgi/base/fault_env.h"
#include "fcgi/base/fs.h"
#include "fcgi/storage/archive_store.h"
#include "fcgi/storage/crc32c.h"
#include "tests/support/temp_dir.h"

namespace devserver::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

class Observer : public FetchObserver {
 public:
  void OnProgress(uint64_t done, uint64_t total) override { progress.emplace_back(done, total); }
  bool Cancelled() override { return cancel_after_first && !progress.empty(); }
  std::vector<std::pair<uint64_t, uint64_t>> progress;
  bool cancel_after_first = false;
};

class LocalDirStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = top_.Sub("root");
    ASSERT_TRUE(MakeDirectories(root_, 0755).ok());
    store_ = MakeLocalDirStore(root_ + "/");
  }

  // Writes root/<bucket>/<name> with a fixed mtime, so its generation is known.
  int64_t Put(const std::string& bucket, const std::string& name, const std::string& bytes,
              int64_t mtime_ns = 1'700'000'000'123'456'789) {
    const std::string path = root_ + "/" + bucket + "/" + name;
    EXPECT_TRUE(MakeDirectories(path.substr(0, path.rfind('/')), 0755).ok());
    EXPECT_TRUE(WriteFileAtomically(path, bytes).ok());
    const struct timespec times[2] = {{mtime_ns / 1'000'000'000, mtime_ns % 1'000'000'000},
                                      {mtime_ns / 1'000'000'000, mtime_ns % 1'000'000'000}};
    EXPECT_EQ(utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
    return mtime_ns;
  }

  ObjectInfo Info(const std::string& bucket, const std::string& name) {
    ObjectInfo info;
    const Status s = store_->Stat(bucket, name, &info);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return info;
  }

  std::string Contents(const std::string& path) {
    std::string out;
    EXPECT_TRUE(ReadFile(path, &out).ok());
    return out;
  }

  testing::TempDir top_{"local_dir_store_test"};
  std::string root_;
  std::unique_ptr<ArchiveStore> store_;
};

std::vector<std::string> Names(const std::vector<ObjectInfo>& objects) {
  std::vector<std::string> names;
  names.reserve(objects.size());
  for (const auto& o : objects) names.push_back(o.name);
  return names;
}

TEST_F(LocalDirStoreTest, ListWalksSubdirectoriesInNameOrder) {
  Put("bkt", "b/z.bin", "1");
  Put("bkt", "a/y/x.bin", "22");
  Put("bkt", "a/w.bin", "333");
  Put("bkt", "c.bin", "4444");
  Put("other", "a/w.bin", "5");
  std::vector<ObjectInfo> objects;
  ASSERT_TRUE(store_->List("bkt", "", &objects).ok());
  EXPECT_THAT(Names(objects), ElementsAre("a/w.bin", "a/y/x.bin", "b/z.bin", "c.bin"));
  EXPECT_EQ(objects[0].bucket, "bkt");
  EXPECT_EQ(objects[0].size, 3u);
  EXPECT_EQ(objects[0].generation, 1'700'000'000'123'456'789);
  EXPECT_EQ(objects[0].crc32c, "");
}

TEST_F(LocalDirStoreTest, ListFiltersByPrefixIncludingPartialNames) {
  Put("bkt", "R1/full.bin", "1");
  Put("bkt", "R1/delta.bin", "1");
  Put("bkt", "R10/full.bin", "1");
  Put("bkt", "R2/full.bin", "1");
  std::vector<ObjectInfo> objects;
  ASSERT_TRUE(store_->List("bkt", "R1/", &objects).ok());
  EXPECT_THAT(Names(objects), ElementsAre("R1/delta.bin", "R1/full.bin"));
  ASSERT_TRUE(store_->List("bkt", "R1", &objects).ok());
  EXPECT_THAT(Names(objects), ElementsAre("R1/delta.bin", "R1/full.bin", "R10/full.bin"));
  ASSERT_TRUE(store_->List("bkt", "R1/f", &objects).ok());
  EXPECT_THAT(Names(objects), ElementsAre("R1/full.bin"));
  ASSERT_TRUE(store_->List("bkt", "R3/", &objects).ok());
  EXPECT_TRUE(objects.empty());
}

TEST_F(LocalDirStoreTest, ListOfMissingBucketIsNotFound) {
  std::vector<ObjectInfo> objects;
  const Status s = store_->List("nope", "", &objects);
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("gs://nope: no such bucket"));
}

TEST_F(LocalDirStoreTest, StatReportsSizeAndMtimeGeneration) {
  const int64_t gen = Put("bkt", "x/y.bin", "hello", 1'600'000'000'000'000'001);
  const ObjectInfo info = Info("bkt", "x/y.bin");
  EXPECT_EQ(info.bucket, "bkt");
  EXPECT_EQ(info.name, "x/y.bin");
  EXPECT_EQ(info.size, 5u);
  EXPECT_EQ(info.generation, gen);
  EXPECT_EQ(info.Url(), "gs://bkt/x/y.bin");
}

TEST_F(LocalDirStoreTest, StatOfMissingOrDirectoryIsNotFound) {
  Put("bkt", "dir/file.bin", "1");
  ObjectInfo info;
  Status s = store_->Stat("bkt", "missing.bin", &info);
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_EQ(s.message(), "gs://bkt/missing.bin: not found");
  EXPECT_EQ(store_->Stat("bkt", "dir", &info).code(), Status::Code::kNotFound);
  EXPECT_EQ(store_->Stat("bkt", "dir/file.bin/x", &info).code(), Status::Code::kNotFound);
}

TEST_F(LocalDirStoreTest, NamesThatWouldLeaveTheRootAreRejected) {
  // A file next to the root that a ".." would reach.
  ASSERT_TRUE(WriteFileAtomically(top_.Sub("secret"), "s").ok());
  Put("bkt", "ok.bin", "1");
  ObjectInfo info;
  std::string contents;
  std::vector<ObjectInfo> objects;
  for (const auto& [bucket, name] :
       std::vector<std::pair<std::string, std::string>>{{"..", "secret"},
                                                        {"bkt", "../../secret"},
                                                        {"bkt", "a/../../../secret"},
                                                        {".", "bkt/ok.bin"},
                                                        {"bkt/..", "secret"},
                                                        {"bkt", "./ok.bin"},
                                                        {"bkt", "a//b"},
                                                        {"bkt", ""},
                                                        {"", "ok.bin"}}) {
    EXPECT_EQ(store_->Stat(bucket, name, &info).code(), Status::Code::kInvalidArgument)
        << bucket << " " << name;
    EXPECT_EQ(store_->ReadSmall(bucket, name, 100, &contents).code(),
              Status::Code::kInvalidArgument);
    ObjectInfo object;
    object.bucket = bucket;
    object.name = name;
    object.size = 1;
    EXPECT_EQ(store_->Fetch(object, top_.Sub("out"), nullptr).code(),
              Status::Code::kInvalidArgument);
  }
  EXPECT_EQ(store_->List("..", "", &objects).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store_->List("bkt", "../", &objects).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store_->List("bkt", "a/../../x", &objects).code(), Status::Code::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(top_.Sub("out")));
}

TEST_F(LocalDirStoreTest, ReadSmallReadsUpToTheLimit) {
  Put("bkt", "m.json", "{}");
  std::string contents;
  ASSERT_TRUE(store_->ReadSmall("bkt", "m.json", 2, &contents).ok());
  EXPECT_EQ(contents, "{}");
  const Status s = store_->ReadSmall("bkt", "m.json", 1, &contents);
  EXPECT_EQ(s.code(), Status::Code::kFailed);
  EXPECT_EQ(s.message(), "gs://bkt/m.json: 2 bytes, more than the 1 expected");
  EXPECT_EQ(store_->ReadSmall("bkt", "none.json", 1, &contents).code(), Status::Code::kNotFound);
}

TEST_F(LocalDirStoreTest, FetchCopiesBytesAndReportsProgress) {
  const std::string bytes = RandomBytes((9 << 20) + 3, 1);
  Put("bkt", "big.bin", bytes);
  Observer observer;
  const Status s = store_->Fetch(Info("bkt", "big.bin"), top_.Sub("out"), &observer);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Contents(top_.Sub("out")), bytes);
  ASSERT_FALSE(observer.progress.empty());
  uint64_t last = 0;
  for (const auto& [done, total] : observer.progress) {
    EXPECT_EQ(total, bytes.size());
    EXPECT_GE(done, last);
    EXPECT_LE(done - last, 4u << 20);
    last = done;
  }
  EXPECT_EQ(last, bytes.size());
}

TEST_F(LocalDirStoreTest, FetchTruncatesAnExistingDestination) {
  Put("bkt", "a.bin", "new");
  ASSERT_TRUE(WriteFileAtomically(top_.Sub("out"), "older and longer").ok());
  ASSERT_TRUE(store_->Fetch(Info("bkt", "a.bin"), top_.Sub("out"), nullptr).ok());
  EXPECT_EQ(Contents(top_.Sub("out")), "new");
}

TEST_F(LocalDirStoreTest, FetchVerifiesAChecksumTheCallerKnows) {
  const std::string bytes = RandomBytes(100000, 2);
  Put("bkt", "c.bin", bytes);
  ObjectInfo info = Info("bkt", "c.bin");
  info.crc32c = Crc32cBase64(Crc32c(bytes.data(), bytes.size()));
  ASSERT_TRUE(store_->Fetch(info, top_.Sub("out"), nullptr).ok());
  EXPECT_EQ(Contents(top_.Sub("out")), bytes);

  info.crc32c = Crc32cBase64(1234);
  const Status s = store_->Fetch(info, top_.Sub("out"), nullptr);
  EXPECT_EQ(s.code(), Status::Code::kFailed);
  EXPECT_EQ(s.message(), "gs://bkt/c.bin: checksum mismatch: downloaded crc32c " +
                             Crc32cBase64(Crc32c(bytes.data(), bytes.size())) + ", metadata says " +
                             Crc32cBase64(1234));
}

TEST_F(LocalDirStoreTest, FetchOfReplacedFileFails) {
  Put("bkt", "r.bin", "one", 1'000'000'000'000'000'000);
  const ObjectInfo info = Info("bkt", "r.bin");
  Put("bkt", "r.bin", "two", 1'000'000'000'000'000'001);
  const Status s = store_->Fetch(info, top_.Sub("out"), nullptr);
  EXPECT_EQ(s.code(), Status::Code::kFailed);
  EXPECT_EQ(s.message(),
            "gs://bkt/r.bin: object replaced (generation 1000000000000000000, now "
            "1000000000000000001)");
}

TEST_F(LocalDirStoreTest, FetchOfMissingFileIsNotFound) {
  ObjectInfo info;
  info.bucket = "bkt";
  info.name = "gone.bin";
  const Status s = store_->Fetch(info, top_.Sub("out"), nullptr);
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_EQ(s.message(), "gs://bkt/gone.bin: not found");
}

TEST_F(LocalDirStoreTest, FetchStopsWhenCancelled) {
  Put("bkt", "c.bin", RandomBytes(12 << 20, 3));
  Observer observer;
  observer.cancel_after_first = true;
  const Status s = store_->Fetch(Info("bkt", "c.bin"), top_.Sub("out"), &observer);
  EXPECT_EQ(s.code(), Status::Code::kFailed);
  EXPECT_EQ(s.message(), "gs://bkt/c.bin: cancelled");
  EXPECT_EQ(observer.progress.size(), 1u);
}

TEST_F(LocalDirStoreTest, FetchIntoMissingDirectoryIsAnIOError) {
  Put("bkt", "a.bin", "x");
  const Status s = store_->Fetch(Info("bkt", "a.bin"), top_.Sub("no/such/dir/out"), nullptr);
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_EQ(s.message(), "open " + top_.path() + "/no/such/dir/out: No such file or directory");
}

FaultRule Fault(FaultOp op, const std::string& path, int err, int64_t count = 1) {
  FaultRule rule;
  rule.op = op;
  rule.path = path;
  rule.err = err;
  rule.count = count;
  return rule;
}

TEST_F(LocalDirStoreTest, FetchReportsAnEIOFsyncOfTheDestination) {
  const std::string bytes = RandomBytes(100000, 4);
  Put("bkt", "s.bin", bytes);
  FaultInjectionEnv env(Env::Default());
  env.Add(Fault(FaultOp::kSync, "/out", EIO));
  const auto store = MakeLocalDirStore(root_, &env);
  Observer observer;
  const Status s = store->Fetch(Info("bkt", "s.bin"), top_.Sub("out"), &observer);
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_EQ(s.message(), "fsync " + top_.Sub("out") + ": Input/output error");
  EXPECT_EQ(env.Injected(FaultOp::kSync), 1);
  // The fetch is not reported complete; the bytes themselves were all copied.
  for (const auto& [done, total] : observer.progress) EXPECT_LT(done, total);
  EXPECT_EQ(Contents(top_.Sub("out")), bytes);
  // The rule fired once: the next fetch goes through.
  ASSERT_TRUE(store->Fetch(Info("bkt", "s.bin"), top_.Sub("out"), nullptr).ok());
}

// Without a checksum the real Env copies in the kernel; any other Env gets the buffered copy,
// so a write fault reaches the copy of an object whose checksum is unknown too.
TEST_F(LocalDirStoreTest, FetchWriteFaultsReachObjectsWithoutAChecksum) {
  const std::string bytes = RandomBytes((3 << 20) + 5, 5);
  Put("bkt", "w.bin", bytes);
  const ObjectInfo info = Info("bkt", "w.bin");
  ASSERT_TRUE(info.crc32c.empty() && info.md5.empty());
  FaultInjectionEnv env(Env::Default());
  FaultRule rule = Fault(FaultOp::kWrite, "/out", ENOSPC);
  rule.skip = 1;  // the second 1 MiB block
  env.Add(rule);
  const auto store = MakeLocalDirStore(root_, &env);
  const Status s = store->Fetch(info, top_.Sub("out"), nullptr);
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_EQ(s.message(), "write " + top_.Sub("out") + ": No space left on device");
  EXPECT_EQ(Contents(top_.Sub("out")).size(), 1U << 20);

  ASSERT_TRUE(store->Fetch(info, top_.Sub("out"), nullptr).ok());
  EXPECT_EQ(Contents(top_.Sub("out")), bytes);
}

TEST_F(LocalDirStoreTest, FetchReportsFailuresToCreateOrReserveTheDestination) {
  Put("bkt", "a.bin", "abc");
  FaultInjectionEnv env(Env::Default());
  env.Add(Fault(FaultOp::kOpen, "/out", EACCES));
  env.Add(Fault(FaultOp::kAllocate, "/out", ENOSPC));
  const auto store = MakeLocalDirStore(root_, &env);
  EXPECT_EQ(store->Fetch(Info("bkt", "a.bin"), top_.Sub("out"), nullptr).message(),
            "open " + top_.Sub("out") + ": Permission denied");
  EXPECT_EQ(store->Fetch(Info("bkt", "a.bin"), top_.Sub("out"), nullptr).message(),
            "fallocate " + top_.Sub("out") + ": No space left on device");
  ASSERT_TRUE(store->Fetch(Info("bkt", "a.bin"), top_.Sub("out"), nullptr).ok());
  EXPECT_EQ(Contents(top_.Sub("out")), "abc");
}

}  // namespace
}  // namespace devserver::storage
