// Staging directories are named by their claim's token alone, so sweeping one artifact's dead
// directories never touches another's live one; dead downloads of the same artifact are
// adopted when their generation still matches.
#include "fcgi/staging/temp_dir.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/support/temp_dir.h"

namespace devserver {
namespace {

namespace fs = std::filesystem;

class TempDirTest : public ::testing::Test {
 protected:
  std::unique_ptr<StagingTempDir> Make(int64_t token, const std::string& artifact) {
    std::unique_ptr<StagingTempDir> dir;
    Status s = StagingTempDir::Create(Env::Default(), build_.path(), token, artifact, &dir);
    EXPECT_TRUE(s.ok()) << s.message();
    return dir;
  }
  static void Write(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
  }
  bool Exists(const std::string& name) { return fs::exists(build_.Sub(name)); }
  // A sweep by a stager of `artifact` holding `token`, where only `live` tokens are live.
  TempDirSweep Sweep(int64_t token, const std::string& artifact,
                     const std::set<int64_t>& live = {}) {
    TempDirSweep sweep;
    sweep.claim_live = [live](int64_t t) { return live.count(t) != 0; };
    sweep.awaits_adoption = [](const std::string&) { return false; };
    sweep.own_token = token;
    sweep.artifact = artifact;
    sweep.adopt_into = build_.Sub(StagingTempDir::NameFor(token) + "/fetch");
    return sweep;
  }

  testing::TempDir build_{"devserver-tempdir"};
};

TEST_F(TempDirTest, NamesAreExactlyTheToken) {
  EXPECT_EQ(StagingTempDir::NameFor(17), ".staging-17");
  EXPECT_EQ(StagingTempDir::TokenOf(".staging-17"), 17);
  for (const char* other : {".staging-", ".staging-17x", ".staging-file:foo-17", "staging-17",
                            ".evicting-1", ".removing-1-2-3"}) {
    EXPECT_EQ(StagingTempDir::TokenOf(other), -1) << other;
  }
}

// files=foo and files=foo-bar: sweeping for the one must leave the other's live directory.
TEST_F(TempDirTest, SweepNeverTouchesALiveClaimsDirectory) {
  auto bar = Make(5, "file:foo-bar");
  Write(bar->fetch_dir() + "/foo-bar", "half");
  auto foo = Make(6, "file:foo");
  std::map<std::string, uint64_t> adopted;
  SweepTempDirs(Env::Default(), build_.path(), Sweep(6, "file:foo", {5, 6}), &adopted);
  EXPECT_TRUE(fs::exists(bar->fetch_dir() + "/foo-bar"));
  EXPECT_TRUE(adopted.empty());
}

// A stager that lost its claim but still works holds its lock: nobody pulls files from it.
TEST_F(TempDirTest, SweepLeavesADirectoryWhoseStagerStillRuns) {
  auto stale = Make(5, "full_payload");
  Write(stale->fetch_dir() + "/payload.bin", "bytes");
  ASSERT_TRUE(stale->NoteGeneration(stale->fetch_dir() + "/payload.bin", 9).ok());
  auto fresh = Make(6, "full_payload");
  TempDirSweep sweep = Sweep(6, "full_payload", {6});  // 5 is no longer a live claim
  sweep.generations["payload.bin"] = 9;
  std::map<std::string, uint64_t> adopted;
  SweepTempDirs(Env::Default(), build_.path(), sweep, &adopted);
  EXPECT_TRUE(adopted.empty());
  EXPECT_TRUE(Exists(".staging-5"));
  stale.reset();  // the stale stager lets go (its lock with it)
  SweepTempDirs(Env::Default(), build_.path(), sweep, &adopted);
  EXPECT_EQ(adopted, (std::map<std::string, uint64_t>{{"payload.bin", 5}}));
  EXPECT_FALSE(Exists(".staging-5"));
  std::ifstream in(fresh->fetch_dir() + "/payload.bin");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "bytes");
}

TEST_F(TempDirTest, DownloadsOfAnotherGenerationOrArtifactAreNotAdopted) {
  auto old_gen = Make(3, "full_payload");
  Write(old_gen->fetch_dir() + "/payload.bin", "old bytes");
  ASSERT_TRUE(old_gen->NoteGeneration(old_gen->fetch_dir() + "/payload.bin", 8).ok());
  auto other = Make(4, "stateful");
  Write(other->fetch_dir() + "/payload.bin", "not mine");
  ASSERT_TRUE(other->NoteGeneration(other->fetch_dir() + "/payload.bin", 9).ok());
  old_gen.reset();
  other.reset();
  auto mine = Make(6, "full_payload");
  TempDirSweep sweep = Sweep(6, "full_payload");
  sweep.generations["payload.bin"] = 9;
  std::map<std::string, uint64_t> adopted;
  SweepTempDirs(Env::Default(), build_.path(), sweep, &adopted);
  EXPECT_TRUE(adopted.empty());
  EXPECT_FALSE(Exists(".staging-3"));
  EXPECT_FALSE(Exists(".staging-4"));  // nobody waits for stateful's downloads
  EXPECT_TRUE(Exists(".staging-6"));
}

TEST_F(TempDirTest, ADeadDirectoryAnotherArtifactWillAdoptStays) {
  auto waiting = Make(3, "stateful");
  waiting.reset();
  auto mine = Make(6, "full_payload");
  TempDirSweep sweep = Sweep(6, "full_payload");
  sweep.awaits_adoption = [](const std::string& artifact) { return artifact == "stateful"; };
  std::map<std::string, uint64_t> adopted;
  SweepTempDirs(Env::Default(), build_.path(), sweep, &adopted);
  EXPECT_TRUE(Exists(".staging-3"));
}

TEST_F(TempDirTest, TrashPutsBackOrEmptiesAndADeadProcesssTrashIsSwept) {
  Write(build_.Sub("a"), "a");
  fs::create_directories(build_.Sub("d"));
  Write(build_.Sub("d/b"), "b");
  state::Owner me{getpid(), state::ProcessStartTicks(getpid()), ""};
  {
    BuildTrash trash(Env::Default(), build_.path(), me);
    ASSERT_TRUE(trash.Take({"a", "d/b", "gone"}).ok());
    EXPECT_FALSE(Exists("a"));
    trash.PutBack();
    EXPECT_TRUE(Exists("a"));
    EXPECT_TRUE(Exists("d/b"));
  }
  {
    BuildTrash trash(Env::Default(), build_.path(), me);
    ASSERT_TRUE(trash.Take({"a"}).ok());
    trash.Empty();
  }
  EXPECT_FALSE(Exists("a"));
  for (const auto& e : fs::directory_iterator(build_.path())) {
    EXPECT_NE(e.path().filename().string().rfind(".removing-", 0), 0U) << e.path();
  }
  // A process that died between its commit and emptying its trash.
  fs::create_directories(build_.Sub(".removing-999999-1-0/x"));
  std::map<std::string, uint64_t> adopted;
  SweepTempDirs(Env::Default(), build_.path(), Sweep(6, "full_payload"), &adopted);
  EXPECT_FALSE(Exists(".removing-999999-1-0"));
}

}  // namespace
}  // namespace devserver
