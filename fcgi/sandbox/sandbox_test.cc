// devserver-sandbox, run as the service runs it, around a shell that tries what an exploited
// minidump_stackwalk would: write outside its scratch directory, read what it was not given,
// open a network connection, exceed its limits.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/landlock.h>

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "fcgi/base/subprocess.h"
#include "tests/support/temp_dir.h"

namespace devserver {
namespace {

bool KernelHasLandlock() {
  return syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION) > 0;
}

bool Exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

class SandboxTest : public ::testing::Test {
 protected:
  // Runs `script` under bash inside the sandbox, with `extra` flags before "--".
  ProcessResult Run(const std::string& script, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {DEVSERVER_SANDBOX_BIN, "--write", scratch_.path(), "--read",
                                     readable_.path()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.insert(argv.end(), {"--", "/bin/bash", "-c", script});
    ProcessResult result;
    ProcessLimits limits;
    limits.timeout = std::chrono::seconds(20);
    Status s = RunProcess(argv, limits, &result);
    EXPECT_TRUE(s.ok()) << s.message();
    return result;
  }

  testing::TempDir scratch_{"devserver-sandbox-scratch"};
  testing::TempDir readable_{"devserver-sandbox-read"};
  testing::TempDir elsewhere_{"devserver-sandbox-elsewhere"};
};

TEST_F(SandboxTest, WritesOnlyInsideItsScratchDirectoryAndReadsOnlyWhatItWasGiven) {
  if (!KernelHasLandlock()) GTEST_SKIP() << "this kernel has no Landlock: files are unconfined";
  { std::ofstream(readable_.Sub("symbols.sym")) << "MODULE Linux x86_64 1 crasher\n"; }
  { std::ofstream(elsewhere_.Sub("secret")) << "not yours\n"; }
  const std::string out = elsewhere_.path();
  ProcessResult r =
      Run("echo here > made.txt && echo made; "
          "cat " +
          readable_.Sub("symbols.sym") +
          "; "
          "echo x > " +
          out +
          "/escaped.txt 2>/dev/null || echo write-refused; "
          "mkdir " +
          out +
          "/d 2>/dev/null || echo mkdir-refused; "
          "rm -f " +
          out +
          "/secret 2>/dev/null; "
          "cat " +
          out +
          "/secret 2>/dev/null || echo read-refused; "
          "echo x > /tmp/devserver-sandbox-escape-$$ 2>/dev/null || echo tmp-refused; "
          "echo $TMPDIR; pwd");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "made\nMODULE Linux x86_64 1 crasher\nwrite-refused\nmkdir-refused\n"
            "read-refused\ntmp-refused\n" +
                scratch_.path() + "\n" + scratch_.path() + "\n");
  EXPECT_TRUE(Exists(scratch_.Sub("made.txt")));
  EXPECT_FALSE(Exists(elsewhere_.Sub("escaped.txt")));
  EXPECT_FALSE(Exists(elsewhere_.Sub("d")));
  EXPECT_TRUE(Exists(elsewhere_.Sub("secret")));  // its removal was refused too
}

TEST_F(SandboxTest, OpensNoNetworkConnection) {
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string port = std::to_string(ntohs(addr.sin_port));
  // The same line outside the sandbox connects: the refusal below is the sandbox's doing.
  ProcessResult plain;
  ASSERT_TRUE(
      RunProcess({"/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/" + port + " && echo connected"},
                 ProcessLimits{}, &plain)
          .ok());
  EXPECT_EQ(plain.out, "connected\n");
  const int accepted = accept(listener, nullptr, nullptr);
  ASSERT_GE(accepted, 0);
  close(accepted);

  ProcessResult r =
      Run("exec 3<>/dev/tcp/127.0.0.1/" + port + " 2>/dev/null && echo connected || echo refused");
  EXPECT_EQ(r.out, "refused\n") << r.err;
  EXPECT_LT(accept(listener, nullptr, nullptr), 0);  // nothing reached the listener
  close(listener);
}

TEST_F(SandboxTest, RunsWithinItsLimits) {
  ProcessResult r =
      Run("ulimit -v; ulimit -t; ulimit -f; ulimit -n; ulimit -c",
          {"--max-address-space", "1073741824", "--max-cpu", "7", "--max-file-size", "1048576"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // bash reports -v and -f in KiB.
  EXPECT_EQ(r.out, "1048576\n7\n1024\n256\n0\n");
}

TEST_F(SandboxTest, SaysWhyWhenItCannotRunTheProgram) {
  ProcessResult result;
  ASSERT_TRUE(
      RunProcess({DEVSERVER_SANDBOX_BIN, "--write", scratch_.path(), "--", "/nonexistent/tool"},
                 ProcessLimits{}, &result)
          .ok());
  EXPECT_EQ(result.exit_code, 127);
  EXPECT_EQ(result.err,
            "devserver-sandbox: cannot run /nonexistent/tool: No such file or directory\n");
  ASSERT_TRUE(
      RunProcess({DEVSERVER_SANDBOX_BIN, "--write", scratch_.Sub("missing"), "--", "/bin/true"},
                 ProcessLimits{}, &result)
          .ok());
  EXPECT_EQ(result.exit_code, 126);
  EXPECT_EQ(result.err.rfind("devserver-sandbox: ", 0), 0U) << result.err;
  ASSERT_TRUE(RunProcess({DEVSERVER_SANDBOX_BIN, "--write", scratch_.path(), "relative"},
                         ProcessLimits{}, &result)
                  .ok());
  EXPECT_EQ(result.exit_code, 2);
}

}  // namespace
}  // namespace devserver
