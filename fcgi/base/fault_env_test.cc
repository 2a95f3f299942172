#include "fcgi/base/fault_env.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fcgi/base/fs.h"
#include "tests/support/temp_dir.h"

namespace devserver {
namespace {

FaultRule Rule(FaultOp op, const std::string& path, int err, int64_t count = 1, int64_t skip = 0,
               int delay_ms = 0) {
  FaultRule r;
  r.op = op;
  r.path = path;
  r.err = err;
  r.count = count;
  r.skip = skip;
  r.delay_ms = delay_ms;
  return r;
}

std::string Slurp(const std::string& path) {
  std::string text;
  if (!ReadFile(path, &text).ok()) return "";
  return text;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool Exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

// Polls `done` every millisecond for up to 5 s; true once it holds.
bool Eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return done();
}

class FaultEnvTest : public ::testing::Test {
 protected:
  // A file opened for writing through the env (no rules yet match it).
  int OpenFile(const std::string& path) {
    int fd = -1;
    EXPECT_TRUE(env_.Open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644, &fd).ok());
    return fd;
  }

  static void ExpectIOError(const Status& s, const std::string& message) {
    EXPECT_EQ(s.code(), Status::Code::kIOError) << s.ToString();
    EXPECT_EQ(s.message(), message);
  }

  const testing::TempDir tmp_{"devserver-fault-env-test"};
  FaultInjectionEnv env_{Env::Default()};
};

TEST_F(FaultEnvTest, OpenFailsWithTheRuleErrnoAndMakesNoFile) {
  const std::string path = tmp_.Sub("a.bin");
  env_.Add(Rule(FaultOp::kOpen, "a.bin", EACCES));
  int fd = 7;
  ExpectIOError(env_.Open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644, &fd),
                "open " + path + ": Permission denied");
  EXPECT_EQ(fd, -1);
  EXPECT_FALSE(Exists(path));

  // OpenAt tells the errno too, and only the first call fired (count 1).
  env_.Add(Rule(FaultOp::kOpen, "b.bin", EEXIST));
  int dir = -1;
  ASSERT_TRUE(env_.Open(tmp_.path(), O_PATH | O_DIRECTORY | O_CLOEXEC, 0, &dir).ok());
  int err = 0;
  ExpectIOError(
      env_.OpenAt(dir, "b.bin", tmp_.Sub("b.bin"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644, &fd, &err),
      "open " + tmp_.Sub("b.bin") + ": File exists");
  EXPECT_EQ(err, EEXIST);
  ASSERT_TRUE(
      env_.OpenAt(dir, "b.bin", tmp_.Sub("b.bin"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644, &fd, &err)
          .ok());
  EXPECT_EQ(err, 0);
  EXPECT_TRUE(env_.Close(fd, tmp_.Sub("b.bin")).ok());
  EXPECT_TRUE(env_.Close(dir, tmp_.path()).ok());
  EXPECT_EQ(env_.Injected(FaultOp::kOpen), 2);
}

TEST_F(FaultEnvTest, WriteFailsWithENOSPCAndWritesNothing) {
  const std::string path = tmp_.Sub("x.bin");
  const int fd = OpenFile(path);
  env_.Add(Rule(FaultOp::kWrite, "x.bin", ENOSPC, 2));
  int err = 0;
  ExpectIOError(env_.Write(fd, path, "abc", 3, &err),
                "write " + path + ": No space left on device");
  EXPECT_EQ(err, ENOSPC);
  ExpectIOError(env_.WriteAt(fd, path, "abc", 3, 10),
                "write " + path + ": No space left on device");
  ASSERT_TRUE(env_.Write(fd, path, "abc", 3, &err).ok());  // count 2 used up
  EXPECT_EQ(err, 0);
  ASSERT_TRUE(env_.WriteAt(fd, path, "de", 2, 3).ok());
  ASSERT_TRUE(env_.Close(fd, path).ok());
  EXPECT_EQ(Slurp(path), "abcde");
  EXPECT_EQ(env_.Injected(FaultOp::kWrite), 2);
}

TEST_F(FaultEnvTest, SyncAllocateTruncateAndCloseFail) {
  const std::string path = tmp_.Sub("f");
  int fd = OpenFile(path);
  env_.Add(Rule(FaultOp::kSync, "/f", EIO, 2));
  env_.Add(Rule(FaultOp::kAllocate, "/f", ENOSPC));
  env_.Add(Rule(FaultOp::kTruncate, "/f", EROFS));
  env_.Add(Rule(FaultOp::kSyncFs, "/f", EIO));
  ExpectIOError(env_.Sync(fd, path), "fsync " + path + ": Input/output error");
  ExpectIOError(env_.SyncPath(path), "fsync " + path + ": Input/output error");
  EXPECT_TRUE(env_.Sync(fd, path).ok());
  ExpectIOError(env_.Allocate(fd, path, 1 << 20),
                "fallocate " + path + ": No space left on device");
  ExpectIOError(env_.Truncate(fd, path, 0), "truncate " + path + ": Read-only file system");
  ExpectIOError(env_.SyncFileSystem(path), "syncfs " + path + ": Input/output error");
  EXPECT_TRUE(env_.SyncFileSystem(path).ok());

  // A failing close still releases the descriptor, as close(2) does.
  env_.Add(Rule(FaultOp::kClose, "/f", EIO));
  ExpectIOError(env_.Close(fd, path), "close " + path + ": Input/output error");
  errno = 0;
  EXPECT_EQ(fcntl(fd, F_GETFD), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(env_.Injected(), 6);
  EXPECT_EQ(env_.Injected(FaultOp::kSync), 2);
}

TEST_F(FaultEnvTest, RenameMatchesEitherPathAndLeavesTheFileWhereItWas) {
  const std::string from = tmp_.Sub("from");
  const std::string to = tmp_.Sub("to");
  ASSERT_TRUE(WriteFileAtomically(from, "x").ok());
  env_.Add(Rule(FaultOp::kRename, "/to", EXDEV));
  int err = 0;
  ExpectIOError(env_.Rename(from, to, &err),
                "rename " + from + " to " + to + ": Invalid cross-device link");
  EXPECT_EQ(err, EXDEV);
  EXPECT_TRUE(Exists(from));
  EXPECT_FALSE(Exists(to));
  env_.Add(Rule(FaultOp::kRename, "/from", EXDEV));
  EXPECT_FALSE(env_.Rename(from, to).ok());
  ASSERT_TRUE(env_.Rename(from, to).ok());
  EXPECT_TRUE(Exists(to));
}

TEST_F(FaultEnvTest, MkdirFailsWithEACCESAlsoInsideMakeDirectories) {
  const std::string dir = tmp_.Sub("a/b/c");
  env_.Add(Rule(FaultOp::kMkdir, "/a/b", EACCES));
  bool created = true;
  ExpectIOError(env_.MakeDirectory(tmp_.Sub("a/b"), 0755, &created),
                "mkdir " + tmp_.Sub("a/b") + ": Permission denied");
  EXPECT_FALSE(created);
  EXPECT_FALSE(Exists(tmp_.Sub("a/b")));

  env_.Add(Rule(FaultOp::kMkdir, "/a/b", EACCES));
  ExpectIOError(MakeDirectories(&env_, dir, 0755),
                "mkdir " + tmp_.Sub("a/b") + ": Permission denied");
  EXPECT_TRUE(Exists(tmp_.Sub("a")));  // the parent before it was made
  ASSERT_TRUE(MakeDirectories(&env_, dir, 0755).ok());
  EXPECT_TRUE(Exists(dir));

  // One level, relative to a directory descriptor.
  int fd = -1;
  ASSERT_TRUE(env_.Open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, &fd).ok());
  env_.Add(Rule(FaultOp::kMkdir, "/c/d", EDQUOT));
  ExpectIOError(env_.MakeDirectoryAt(fd, "d", dir + "/d", 0755, &created),
                "mkdir " + dir + "/d: Disk quota exceeded");
  ASSERT_TRUE(env_.MakeDirectoryAt(fd, "d", dir + "/d", 0755, &created).ok());
  EXPECT_TRUE(created);
  ASSERT_TRUE(env_.MakeDirectoryAt(fd, "d", dir + "/d", 0755, &created).ok());
  EXPECT_FALSE(created);  // EEXIST is success
  EXPECT_TRUE(env_.Close(fd, dir).ok());
}

TEST_F(FaultEnvTest, SymlinkRemoveAndStatfsFail) {
  const std::string link = tmp_.Sub("link");
  env_.Add(Rule(FaultOp::kSymlink, "link", EPERM));
  int err = 0;
  ExpectIOError(env_.Symlink("target", link, &err),
                "symlink " + link + ": Operation not permitted");
  EXPECT_EQ(err, EPERM);
  EXPECT_FALSE(Exists(link));
  ASSERT_TRUE(env_.Symlink("target", link, &err).ok());
  // The real EEXIST comes back distinguishable.
  EXPECT_FALSE(env_.Symlink("target", link, &err).ok());
  EXPECT_EQ(err, EEXIST);

  env_.Add(Rule(FaultOp::kRemove, "link", EBUSY));
  ExpectIOError(env_.RemoveFile(link), "remove " + link + ": Device or resource busy");
  EXPECT_TRUE(Exists(link));
  ASSERT_TRUE(env_.RemoveFile(link).ok());
  EXPECT_TRUE(env_.RemoveFile(link).ok());  // missing is fine

  ASSERT_TRUE(MakeDirectories(tmp_.Sub("tree/x"), 0755).ok());
  env_.Add(Rule(FaultOp::kRemove, "tree", EROFS));
  ExpectIOError(env_.RemoveTree(tmp_.Sub("tree")),
                "remove " + tmp_.Sub("tree") + ": Read-only file system");
  ASSERT_TRUE(env_.RemoveTree(tmp_.Sub("tree")).ok());
  EXPECT_FALSE(Exists(tmp_.Sub("tree")));
  EXPECT_TRUE(env_.RemoveTree(tmp_.Sub("tree")).ok());

  env_.Add(Rule(FaultOp::kStatfs, "*", EIO));
  DiskSpace space;
  ExpectIOError(env_.Disk(tmp_.path(), &space), "statvfs " + tmp_.path() + ": Input/output error");
  ASSERT_TRUE(env_.Disk(tmp_.path(), &space).ok());
  EXPECT_GT(space.total, 0U);
}

TEST_F(FaultEnvTest, ErrorsTheCallTreatsAsSuccessStaySuccess) {
  env_.Add(Rule(FaultOp::kMkdir, "*", EEXIST));
  env_.Add(Rule(FaultOp::kRemove, "*", ENOENT));
  env_.Add(Rule(FaultOp::kAllocate, "*", EOPNOTSUPP));
  bool created = true;
  EXPECT_TRUE(env_.MakeDirectory(tmp_.Sub("d"), 0755, &created).ok());
  EXPECT_FALSE(created);
  EXPECT_FALSE(Exists(tmp_.Sub("d")));
  EXPECT_TRUE(env_.RemoveFile(tmp_.Sub("nothing")).ok());
  const int fd = OpenFile(tmp_.Sub("f"));
  EXPECT_TRUE(env_.Allocate(fd, tmp_.Sub("f"), 4096).ok());
  EXPECT_TRUE(env_.Close(fd, tmp_.Sub("f")).ok());
  EXPECT_EQ(env_.Injected(), 3);
}

TEST_F(FaultEnvTest, SkipLetsCallsThroughThenCountFires) {
  const std::string path = tmp_.Sub("f");
  const int fd = OpenFile(path);
  env_.Add(Rule(FaultOp::kWrite, "*", EIO, /*count=*/2, /*skip=*/3));
  std::string outcome;
  for (int i = 0; i < 7; ++i) outcome += env_.Write(fd, path, "x", 1).ok() ? '.' : 'F';
  EXPECT_EQ(outcome, "...FF..");
  EXPECT_TRUE(env_.Close(fd, path).ok());
  EXPECT_EQ(Slurp(path), "xxxxx");
}

TEST_F(FaultEnvTest, UnlimitedRulesAndClear) {
  const std::string path = tmp_.Sub("f");
  const int fd = OpenFile(path);
  env_.Add(Rule(FaultOp::kAny, "*", ENOSPC, FaultRule::kUnlimited));
  for (int i = 0; i < 50; ++i) EXPECT_FALSE(env_.Write(fd, path, "x", 1).ok());
  EXPECT_FALSE(env_.Sync(fd, path).ok());
  EXPECT_EQ(env_.Injected(FaultOp::kWrite), 50);
  EXPECT_EQ(env_.Injected(), 51);
  env_.Clear();
  EXPECT_TRUE(env_.Write(fd, path, "x", 1).ok());
  EXPECT_TRUE(env_.Close(fd, path).ok());
}

TEST_F(FaultEnvTest, FirstLiveMatchingRuleTakesTheCall) {
  const std::string path = tmp_.Sub("dir/f.bin");
  env_.Add(Rule(FaultOp::kMkdir, "other", EIO));  // wrong path
  env_.Add(Rule(FaultOp::kOpen, "dir", EACCES));  // wrong op
  env_.Add(Rule(FaultOp::kMkdir, "dir", EROFS));  // fires first
  env_.Add(Rule(FaultOp::kMkdir, "dir", ENOSPC));
  EXPECT_NE(env_.MakeDirectory(tmp_.Sub("dir"), 0755, nullptr).message().find("Read-only"),
            std::string::npos);
  EXPECT_NE(env_.MakeDirectory(tmp_.Sub("dir"), 0755, nullptr).message().find("No space"),
            std::string::npos);
  EXPECT_TRUE(env_.MakeDirectory(tmp_.Sub("dir"), 0755, nullptr).ok());
}

TEST_F(FaultEnvTest, DelayOnlySlowsTheRealCall) {
  const std::string path = tmp_.Sub("slow");
  const int fd = OpenFile(path);
  env_.Add(Rule(FaultOp::kWrite, "slow", 0, 1, 0, /*delay_ms=*/80));
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(env_.Write(fd, path, "abc", 3).ok());
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(80));
  EXPECT_TRUE(env_.Close(fd, path).ok());
  EXPECT_EQ(Slurp(path), "abc");
  EXPECT_EQ(env_.Injected(FaultOp::kWrite), 1);
}

TEST_F(FaultEnvTest, DelayThenError) {
  const std::string path = tmp_.Sub("f");
  const int fd = OpenFile(path);
  env_.Add(Rule(FaultOp::kSync, "*", EIO, 1, 0, /*delay_ms=*/50));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(env_.Sync(fd, path).ok());
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(50));
  EXPECT_TRUE(env_.Close(fd, path).ok());
}

TEST_F(FaultEnvTest, ClockPassesThrough) {
  const int64_t before = Env::Default()->MonotonicMicros();
  const int64_t mine = env_.MonotonicMicros();
  EXPECT_GE(mine, before);
  EXPECT_LE(mine - before, 10'000'000);
  EXPECT_LE(std::abs(env_.WallSeconds() - Env::Default()->WallSeconds()), 1);
}

// The real calls report their errno the same way, so callers can tell failures apart.
TEST(EnvTest, RealFailuresReportTheirErrno) {
  const testing::TempDir tmp("devserver-env-test");
  Env* env = Env::Default();
  int err = 0;
  int fd = -1;
  EXPECT_EQ(env->Open(tmp.Sub("no/such"), O_RDONLY | O_CLOEXEC, 0, &fd, &err).message(),
            "open " + tmp.Sub("no/such") + ": No such file or directory");
  EXPECT_EQ(err, ENOENT);
  ASSERT_TRUE(env->Symlink("t", tmp.Sub("l"), &err).ok());
  EXPECT_EQ(err, 0);
  EXPECT_FALSE(env->Symlink("t", tmp.Sub("l"), &err).ok());
  EXPECT_EQ(err, EEXIST);
  int dir = -1;
  ASSERT_TRUE(env->Open(tmp.path(), O_PATH | O_DIRECTORY | O_CLOEXEC, 0, &dir).ok());
  EXPECT_FALSE(
      env->OpenAt(dir, "l", tmp.Sub("l"), O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0, &fd, &err).ok());
  EXPECT_EQ(err, ELOOP);
  ASSERT_TRUE(
      env->OpenAt(dir, "f", tmp.Sub("f"), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644, &fd, &err)
          .ok());
  EXPECT_EQ(
      env->OpenAt(dir, "f", tmp.Sub("f"), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644, &fd, &err)
          .message(),
      "open " + tmp.Sub("f") + ": File exists");
  EXPECT_EQ(err, EEXIST);
  EXPECT_EQ(env->Rename(tmp.Sub("none"), tmp.Sub("x"), &err).message(),
            "rename " + tmp.Sub("none") + " to " + tmp.Sub("x") + ": No such file or directory");
  EXPECT_EQ(err, ENOENT);
  EXPECT_TRUE(env->Close(dir, tmp.path()).ok());
  EXPECT_FALSE(env->Close(dir, tmp.path(), &err).ok());  // already closed
  EXPECT_EQ(err, EBADF);
}

TEST(FaultRuleTest, ParsesTheGrammar) {
  FaultRule rule;
  bool blank = false;
  EXPECT_EQ(ParseFaultRule("write .bin ENOSPC", &rule, &blank), "");
  EXPECT_FALSE(blank);
  EXPECT_EQ(rule.op, FaultOp::kWrite);
  EXPECT_EQ(rule.path, ".bin");
  EXPECT_EQ(rule.err, ENOSPC);
  EXPECT_EQ(rule.count, 1);
  EXPECT_EQ(rule.skip, 0);
  EXPECT_EQ(rule.delay_ms, 0);

  EXPECT_EQ(
      ParseFaultRule("  sync\t* EIO count=inf skip=2 delay_ms=5  # the comment", &rule, &blank),
      "");
  EXPECT_EQ(rule.op, FaultOp::kSync);
  EXPECT_EQ(rule.path, "*");
  EXPECT_EQ(rule.count, FaultRule::kUnlimited);
  EXPECT_EQ(rule.skip, 2);
  EXPECT_EQ(rule.delay_ms, 5);

  EXPECT_EQ(ParseFaultRule("write * none delay_ms=200 count=3", &rule, &blank), "");
  EXPECT_EQ(rule.err, 0);
  EXPECT_EQ(rule.count, 3);
  EXPECT_EQ(ParseFaultRule("rename /a 18", &rule, &blank), "");
  EXPECT_EQ(rule.err, EXDEV);

  for (const char* empty : {"", "   ", "# only a comment", "  #x y z"}) {
    EXPECT_EQ(ParseFaultRule(empty, &rule, &blank), "") << empty;
    EXPECT_TRUE(blank) << empty;
  }
  for (const char* bad :
       {"write", "write /x", "frobnicate /x EIO", "write /x ENOTANERRNO", "write /x EIO count=-1",
        "write /x EIO count=", "write /x EIO skip=x", "write /x EIO colour=red", "write /x none",
        "write /x EIO delay_ms=99999999"}) {
    EXPECT_NE(ParseFaultRule(bad, &rule, &blank), "") << bad;
  }
  EXPECT_NE(ParseFaultRule("frobnicate /x EIO", &rule, &blank).find("unknown operation"),
            std::string::npos);
}

TEST(FaultRuleTest, FormatRoundTrips) {
  for (const char* line : {"write .bin ENOSPC count=1", "sync * EIO count=inf skip=2 delay_ms=5",
                           "any /x none count=0 delay_ms=1", "statfs / 200 count=4"}) {
    FaultRule rule;
    bool blank = false;
    ASSERT_EQ(ParseFaultRule(line, &rule, &blank), "") << line;
    EXPECT_EQ(FormatFaultRule(rule), line);
  }
  EXPECT_EQ(ErrnoName(ENOSPC), "ENOSPC");
  int err = 0;
  EXPECT_TRUE(ParseErrno("EACCES", &err));
  EXPECT_EQ(err, EACCES);
  for (size_t i = 0; i < kFaultOpCount; ++i) {
    FaultOp op{};
    ASSERT_TRUE(ParseFaultOp(FaultOpName(static_cast<FaultOp>(i)), &op));
    EXPECT_EQ(op, static_cast<FaultOp>(i));
  }
}

class RulesFileTest : public FaultEnvTest {
 protected:
  void WriteRules(const std::string& text) { ASSERT_TRUE(WriteFileAtomically(rules_, text).ok()); }

  // Writes one byte to `name` in the temp dir through `env`.
  Status WriteOnce(FaultInjectionEnv* env, const std::string& name) {
    const std::string path = tmp_.Sub(name);
    int fd = -1;
    Status s = env->Open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644, &fd);
    if (!s.ok()) return s;
    s = env->Write(fd, path, "x", 1);
    const Status closed = env->Close(fd, path);
    return s.ok() ? closed : s;
  }

  const std::string rules_ = tmp_.Sub("faults");
};

TEST_F(RulesFileTest, ARuleFiresItsCountAndIsRewrittenAndLogged) {
  WriteRules("# staging faults\nwrite victim EIO count=2  # two of them\nsync * EIO skip=1\n");
  FaultInjectionEnv env(Env::Default(), rules_);
  EXPECT_EQ(env.rules_path(), rules_);
  EXPECT_TRUE(WriteOnce(&env, "bystander").ok());
  const Status s = WriteOnce(&env, "victim");
  EXPECT_EQ(s.message(), "write " + tmp_.Sub("victim") + ": Input/output error");
  EXPECT_EQ(Slurp(rules_),
            "# staging faults\nwrite victim EIO count=1  # two of them\nsync * EIO skip=1\n");
  EXPECT_FALSE(WriteOnce(&env, "victim").ok());
  EXPECT_TRUE(WriteOnce(&env, "victim").ok());
  EXPECT_EQ(Slurp(rules_),
            "# staging faults\nwrite victim EIO count=0  # two of them\nsync * EIO skip=1\n");

  // skip is consumed in the file as well.
  EXPECT_TRUE(env.SyncPath(tmp_.Sub("victim")).ok());
  EXPECT_EQ(Lines(Slurp(rules_)).at(2), "sync * EIO count=1");
  EXPECT_FALSE(env.SyncPath(tmp_.Sub("victim")).ok());
  EXPECT_EQ(env.Injected(), 3);

  const std::vector<std::string> log = Lines(Slurp(rules_ + ".log"));
  ASSERT_EQ(log.size(), 3U);
  std::istringstream first(log[0]);
  int64_t ms = 0;
  int pid = 0;
  std::string op;
  std::string err;
  std::string path;
  first >> ms >> pid >> op >> err >> path;
  EXPECT_GT(ms, int64_t{1'600'000'000'000});
  EXPECT_EQ(pid, getpid());
  EXPECT_EQ(op, "write");
  EXPECT_EQ(err, "EIO");
  EXPECT_EQ(path, tmp_.Sub("victim"));
  EXPECT_NE(log[2].find(" sync EIO "), std::string::npos) << log[2];
}

TEST_F(RulesFileTest, DelayOnlyRulesAreLoggedAsDelay) {
  WriteRules("write slow none delay_ms=30 count=inf\nrename * EXDEV count=inf\n");
  FaultInjectionEnv env(Env::Default(), rules_);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(WriteOnce(&env, "slow").ok());
  EXPECT_TRUE(WriteOnce(&env, "slow").ok());
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(60));
  EXPECT_FALSE(env.Rename(tmp_.Sub("slow"), tmp_.Sub("moved")).ok());
  const std::vector<std::string> log = Lines(Slurp(rules_ + ".log"));
  ASSERT_EQ(log.size(), 3U);
  EXPECT_NE(log[0].find(" write delay " + tmp_.Sub("slow")), std::string::npos) << log[0];
  EXPECT_NE(log[2].find(" rename EXDEV " + tmp_.Sub("slow") + " " + tmp_.Sub("moved")),
            std::string::npos)
      << log[2];
  // Unlimited rules have nothing to consume: the file stays as written.
  EXPECT_EQ(Slurp(rules_), "write slow none delay_ms=30 count=inf\nrename * EXDEV count=inf\n");
}

TEST_F(RulesFileTest, ChangesOfTheFileAreNoticedAndAMissingFileHasNoRules) {
  FaultInjectionEnv env(Env::Default(), rules_);
  EXPECT_TRUE(WriteOnce(&env, "f").ok());  // no file yet
  WriteRules("write /f ENOSPC count=inf\n");
  EXPECT_TRUE(Eventually([&] { return !WriteOnce(&env, "f").ok(); }));
  EXPECT_EQ(WriteOnce(&env, "f").message(), "write " + tmp_.Sub("f") + ": No space left on device");

  WriteRules("write /f EDQUOT count=inf\n");
  EXPECT_TRUE(Eventually([&] {
    return WriteOnce(&env, "f").message().find("Disk quota exceeded") != std::string::npos;
  }));

  ASSERT_EQ(unlink(rules_.c_str()), 0);
  EXPECT_TRUE(Eventually([&] { return WriteOnce(&env, "f").ok(); }));
  EXPECT_TRUE(WriteOnce(&env, "f").ok());
}

TEST_F(RulesFileTest, BadLinesAreIgnoredAndTheRestApplies) {
  WriteRules("write /f ENOSPC colour=red\nwrite * EWHAT\nwrite /f EIO\n");
  FaultInjectionEnv env(Env::Default(), rules_);
  EXPECT_EQ(WriteOnce(&env, "f").message(), "write " + tmp_.Sub("f") + ": Input/output error");
  EXPECT_TRUE(WriteOnce(&env, "f").ok());
  // The rewrite touches only the rule that fired.
  EXPECT_EQ(Slurp(rules_), "write /f ENOSPC colour=red\nwrite * EWHAT\nwrite /f EIO count=0\n");
}

TEST_F(RulesFileTest, AddedRulesComeBeforeTheFile) {
  WriteRules("write * EIO count=inf\n");
  FaultInjectionEnv env(Env::Default(), rules_);
  env.Add(Rule(FaultOp::kWrite, "*", ENOSPC));
  EXPECT_NE(WriteOnce(&env, "f").message().find("No space"), std::string::npos);
  EXPECT_NE(WriteOnce(&env, "f").message().find("Input/output"), std::string::npos);
}

// Processes sharing one rules file share its counts: with a worker-pool's worth of processes
// writing at once, `skip=5 count=1` lets exactly five matching writes through host-wide and
// fails exactly one.
TEST_F(RulesFileTest, ProcessesShareTheCountOfOneRule) {
  WriteRules("write shared ENOSPC skip=5 count=1\n");
  constexpr int kProcesses = 4;
  constexpr int kWrites = 100;
  int gate[2];
  ASSERT_EQ(pipe(gate), 0);
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(gate[1]);
      char c = 0;
      (void)!read(gate[0], &c, 1);  // all start together, when the parent closes the pipe
      FaultInjectionEnv env(Env::Default(), rules_);
      const std::string path = tmp_.Sub("shared-" + std::to_string(p));
      int fd = -1;
      if (!env.Open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644, &fd).ok()) _exit(100);
      int failures = 0;
      for (int i = 0; i < kWrites; ++i) {
        if (!env.Write(fd, path, "x", 1).ok()) ++failures;
      }
      (void)env.Close(fd, path);
      _exit(failures == static_cast<int>(env.Injected()) ? failures : 101);
    }
    children.push_back(pid);
  }
  close(gate[0]);
  close(gate[1]);
  int total = 0;
  for (const pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_LT(WEXITSTATUS(status), 100);
    total += WEXITSTATUS(status);
  }
  EXPECT_EQ(total, 1);
  EXPECT_EQ(Slurp(rules_), "write shared ENOSPC count=0\n");
  const std::vector<std::string> log = Lines(Slurp(rules_ + ".log"));
  ASSERT_EQ(log.size(), 1U);
  EXPECT_NE(log[0].find(" write ENOSPC " + tmp_.Sub("shared-")), std::string::npos) << log[0];
}

}  // namespace
}  // namespace devserver
