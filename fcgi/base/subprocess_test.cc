#include "fcgi/base/subprocess.h"

#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fcgi/base/fs.h"
#include "tests/support/temp_dir.h"

namespace devserver {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

ProcessResult RunOk(const std::vector<std::string>& argv, ProcessLimits limits = {}) {
  ProcessResult result;
  Status s = RunProcess(argv, limits, &result);
  EXPECT_TRUE(s.ok()) << s.message();
  return result;
}

ProcessResult Shell(const std::string& script, ProcessLimits limits = {}) {
  return RunOk({"/bin/sh", "-c", script}, limits);
}

std::string RunError(const std::vector<std::string>& argv) {
  ProcessResult result;
  Status s = RunProcess(argv, {}, &result);
  EXPECT_FALSE(s.ok());
  return s.message();
}

// Processes of group `pgid` that are still running (zombies waiting for a reaper do not
// count: they hold nothing open and run nothing).
std::vector<pid_t> LiveMembers(pid_t pgid) {
  std::vector<pid_t> live;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return live;
  while (dirent* entry = readdir(proc)) {  // NOLINT(concurrency-mt-unsafe): one reader
    pid_t pid = static_cast<pid_t>(std::strtol(entry->d_name, nullptr, 10));
    if (pid <= 0) continue;
    std::ifstream stat_file("/proc/" + std::string(entry->d_name) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(stat_file)), {});
    size_t paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream fields(stat.substr(paren + 1));
    char state = 0;
    pid_t ppid = 0, group = 0;
    fields >> state >> ppid >> group;
    if (group == pgid && state != 'Z' && state != 'X') live.push_back(pid);
  }
  closedir(proc);
  return live;
}

bool GroupGoneWithin(pid_t pgid, milliseconds limit) {
  const Clock::time_point end = Clock::now() + limit;
  while (!LiveMembers(pgid).empty()) {
    if (Clock::now() > end) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return true;
}

TEST(SubprocessTest, ExitCodes) {
  ProcessResult r = RunOk({"/bin/true"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.term_signal, 0);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(RunOk({"/bin/false"}).exit_code, 1);
  EXPECT_EQ(Shell("exit 42").exit_code, 42);
}

TEST(SubprocessTest, EndedBySignal) {
  ProcessResult r = Shell("kill -TERM $$; exit 3");
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_EQ(r.term_signal, SIGTERM);
  EXPECT_FALSE(r.timed_out);
}

TEST(SubprocessTest, StdoutAndStderrApartAndArgumentsVerbatim) {
  ProcessResult r = Shell("echo out1; echo err1 >&2; echo out2; echo err2 >&2; exit 7");
  EXPECT_EQ(r.out, "out1\nout2\n");
  EXPECT_EQ(r.err, "err1\nerr2\n");
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_FALSE(r.out_truncated);
  EXPECT_FALSE(r.err_truncated);
  // No shell between us and the program: nothing is split, expanded or globbed.
  EXPECT_EQ(RunOk({"/bin/echo", "a  b", "$HOME", "*", "'q'"}).out, "a  b $HOME * 'q'\n");
}

TEST(SubprocessTest, StdinIsDevNull) {
  ProcessLimits limits;
  limits.timeout = milliseconds(10000);
  ProcessResult r = RunOk({"/bin/cat"}, limits);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(RunOk({"/usr/bin/readlink", "/proc/self/fd/0"}).out, "/dev/null\n");
}

TEST(SubprocessTest, SignalMaskAndDispositionsStartClean) {
  // A worker that blocks SIGTERM or ignores SIGPIPE must not pass that on: a shell keeps a
  // signal ignored at its start ignored, so these children die only with defaults restored.
  struct sigaction ignore = {}, old_pipe = {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGPIPE, &ignore, &old_pipe), 0);
  sigset_t term, old_mask;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &term, &old_mask), 0);
  ProcessResult piped = Shell("kill -PIPE $$; exit 3");
  ProcessResult termed = Shell("kill -TERM $$; exit 3");
  ASSERT_EQ(pthread_sigmask(SIG_SETMASK, &old_mask, nullptr), 0);
  ASSERT_EQ(sigaction(SIGPIPE, &old_pipe, nullptr), 0);
  EXPECT_EQ(piped.term_signal, SIGPIPE);
  EXPECT_EQ(termed.term_signal, SIGTERM);
}

TEST(SubprocessTest, OutputBeyondTheLimitIsDrainedAndDropped) {
  ProcessLimits limits;
  limits.max_stdout = 1024;
  limits.max_stderr = 10;
  limits.timeout = milliseconds(60000);
  ProcessResult r = Shell("head -c 10485760 /dev/zero; echo finished-writing >&2", limits);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.out, std::string(1024, '\0'));
  EXPECT_TRUE(r.out_truncated);
  EXPECT_EQ(r.err, "finished-w");
  EXPECT_TRUE(r.err_truncated);

  limits.max_stdout = 6;
  r = RunOk({"/bin/echo", "hello"}, limits);
  EXPECT_EQ(r.out, "hello\n");
  EXPECT_FALSE(r.out_truncated);
  limits.max_stdout = 5;
  r = RunOk({"/bin/echo", "hello"}, limits);
  EXPECT_EQ(r.out, "hello");
  EXPECT_TRUE(r.out_truncated);
  limits.max_stdout = 0;
  r = RunOk({"/bin/echo", "hello"}, limits);
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(r.out_truncated);
}

TEST(SubprocessTest, TimeoutKillsTheWholeGroup) {
  const testing::TempDir tmp("devserver-subprocess-test");
  const std::string pid_file = tmp.Sub("pid");
  ProcessLimits limits;
  limits.timeout = milliseconds(500);
  const Clock::time_point start = Clock::now();
  ProcessResult r =
      Shell("echo $$ > " + pid_file + "; echo started; sleep 30 & sleep 30; wait", limits);
  const auto elapsed = Clock::now() - start;
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.term_signal, SIGKILL);
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_EQ(r.out, "started\n");  // what came before the deadline is kept
  EXPECT_GE(elapsed, limits.timeout);
  EXPECT_LT(elapsed, limits.timeout + milliseconds(2000));

  std::string pid_text;
  ASSERT_TRUE(ReadFile(pid_file, &pid_text).ok());
  const pid_t pgid = static_cast<pid_t>(std::stol(pid_text));
  ASSERT_GT(pgid, 1);
  // Both sleeps were in the shell's group; orphans may linger as zombies until a reaper
  // collects them, but none may still run.
  EXPECT_TRUE(GroupGoneWithin(pgid, milliseconds(2000)));
}

TEST(SubprocessTest, TimeoutAlsoAppliesAfterTheStreamsClose) {
  ProcessLimits limits;
  limits.timeout = milliseconds(300);
  const Clock::time_point start = Clock::now();
  ProcessResult r = Shell("exec >/dev/null 2>&1; sleep 30", limits);
  const auto elapsed = Clock::now() - start;
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.term_signal, SIGKILL);
  EXPECT_LT(elapsed, limits.timeout + milliseconds(2000));
}

TEST(SubprocessTest, BackgroundChildHoldingStdoutRunsIntoTheTimeout) {
  // The shell itself exits at once, but its stdout stays open in the background sleep:
  // the output is not complete until the deadline kills the group.
  ProcessLimits limits;
  limits.timeout = milliseconds(300);
  const Clock::time_point start = Clock::now();
  ProcessResult r = Shell("sleep 30 & echo started", limits);
  EXPECT_LT(Clock::now() - start, limits.timeout + milliseconds(2000));
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "started\n");
}

TEST(SubprocessTest, ProgramThatCannotRun) {
  EXPECT_EQ(RunError({"/nonexistent/devserver-no-such-tool", "--flag"}),
            "cannot run /nonexistent/devserver-no-such-tool: No such file or directory");
  const testing::TempDir tmp("devserver-subprocess-test");
  const std::string script = tmp.Sub("not-executable");
  ASSERT_TRUE(WriteFileAtomically(script, "#!/bin/sh\necho hi\n").ok());
  ASSERT_EQ(chmod(script.c_str(), 0644), 0);
  EXPECT_EQ(RunError({script}), "cannot run " + script + ": Permission denied");
  EXPECT_EQ(RunError({"bin/true"}), "cannot run bin/true: not an absolute path");
  EXPECT_EQ(RunError({}), "cannot run an empty command");
  ProcessResult result;
  Status s = RunProcess({"/nonexistent"}, {}, &result);
  EXPECT_EQ(s.code(), Status::Code::kFailed);
}

TEST(SubprocessTest, NoDescriptorOfTheCallerLeaks) {
  // Without O_CLOEXEC on purpose: only the close-from file action keeps these out.
  const int leaky = open("/dev/null", O_RDONLY);  // NOLINT(android-cloexec-open)
  ASSERT_GE(leaky, 0);
  const int high = dup2(leaky, 200);
  ASSERT_EQ(high, 200);
  ProcessResult r = RunOk({"/bin/ls", "/proc/self/fd"});
  close(high);
  close(leaky);
  std::vector<std::string> fds;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) fds.push_back(line);
  // 0, 1 and 2, plus the directory ls has open to list.
  ASSERT_EQ(fds.size(), 4u) << r.out;
  EXPECT_EQ(fds[0], "0");
  EXPECT_EQ(fds[1], "1");
  EXPECT_EQ(fds[2], "2");
  EXPECT_EQ(fds[3], "3");
}

TEST(SubprocessTest, ManyThreadsAtOnce) {
  constexpr int kThreads = 16;
  constexpr int kRuns = 20;
  std::vector<std::string> failures(kThreads);
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &failures] {
      for (int i = 0; i < kRuns; ++i) {
        const std::string id = std::to_string(t) + "-" + std::to_string(i);
        ProcessResult r;
        ProcessLimits limits;
        limits.timeout = milliseconds(60000);
        Status s = RunProcess({"/bin/sh", "-c", "echo out-$1; echo err-$1 >&2; exit $2", "sh", id,
                               std::to_string(i % 5)},
                              limits, &r);
        if (!s.ok() || r.out != "out-" + id + "\n" || r.err != "err-" + id + "\n" ||
            r.exit_code != i % 5 || r.timed_out) {
          failures[t] = id + ": " + s.ToString() + " out=" + r.out + " err=" + r.err;
          return;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], "") << "thread " << t;
}

}  // namespace
}  // namespace devserver
