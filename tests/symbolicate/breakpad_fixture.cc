#include "tests/symbolicate/breakpad_fixture.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

extern char** environ;

namespace devserver::testing {
namespace {

// Set by tests/symbolicate/CMakeLists.txt.
constexpr char kCrasherBin[] = DEVSERVER_CRASHER_BIN;
constexpr char kCrasherSource[] = DEVSERVER_CRASHER_SOURCE;
constexpr char kDumpSymsBin[] = DEVSERVER_DUMP_SYMS_BIN;
constexpr char kStackwalkBin[] = DEVSERVER_STACKWALK_BIN;

constexpr char kCrashFunction[] = "devserver_test_crash_here";
constexpr char kCrashLineMarker[] = "// CRASH-LINE";

std::string ErrnoText(int err) { return std::generic_category().message(err); }

std::string DescribeStatus(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "wait status " + std::to_string(status);
}

struct ProcessResult {
  int status = 0;
  std::string out;
  std::string err;
};

// Both pipes are drained together: a child that fills one while we block on the other would
// never finish.
void Drain(int out_fd, int err_fd, ProcessResult* result) {
  std::array<pollfd, 2> fds{{{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}}};
  std::array<std::string*, 2> sinks{&result->out, &result->err};
  std::array<char, 65536> buf{};
  int open_fds = 2;
  while (open_fds > 0) {
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = read(fds[i].fd, buf.data(), buf.size());
      if (n > 0) {
        sinks[i]->append(buf.data(), static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;  // poll skips negative descriptors
        --open_fds;
      }
    }
  }
  for (const pollfd& p : fds) {
    if (p.fd >= 0) close(p.fd);
  }
}

::testing::AssertionResult Spawn(const std::vector<std::string>& argv, ProcessResult* result) {
  std::array<int, 2> out_pipe{};
  std::array<int, 2> err_pipe{};
  // O_CLOEXEC: children spawned concurrently by other threads must not hold our write ends.
  if (pipe2(out_pipe.data(), O_CLOEXEC) != 0) {
    return ::testing::AssertionFailure() << "pipe2: " << ErrnoText(errno);
  }
  if (pipe2(err_pipe.data(), O_CLOEXEC) != 0) {
    const int err = errno;
    close(out_pipe[0]);
    close(out_pipe[1]);
    return ::testing::AssertionFailure() << "pipe2: " << ErrnoText(err);
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (rc != 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    return ::testing::AssertionFailure() << "posix_spawn " << argv[0] << ": " << ErrnoText(rc);
  }
  Drain(out_pipe[0], err_pipe[0], result);
  while (waitpid(pid, &result->status, 0) < 0) {
    if (errno != EINTR) {
      return ::testing::AssertionFailure() << "waitpid " << argv[0] << ": " << ErrnoText(errno);
    }
  }
  return ::testing::AssertionSuccess();
}

// The line of crasher.cc that carries the CRASH-LINE marker, read from the source the crasher
// was built from so that editing the file cannot make the tests expect a stale number.
::testing::AssertionResult FindCrashLine(int* line) {
  std::ifstream in(kCrasherSource);
  if (!in) return ::testing::AssertionFailure() << "cannot read " << kCrasherSource;
  std::string text;
  int number = 0;
  int found = 0;
  while (std::getline(in, text)) {
    ++number;
    if (text.find(kCrashLineMarker) == std::string::npos) continue;
    if (found != 0) {
      return ::testing::AssertionFailure() << kCrasherSource << " marks two lines "
                                           << kCrashLineMarker << ": " << found << ", " << number;
    }
    found = number;
  }
  if (found == 0) {
    return ::testing::AssertionFailure() << "no " << kCrashLineMarker << " in " << kCrasherSource;
  }
  *line = found;
  return ::testing::AssertionSuccess();
}

}  // namespace

::testing::AssertionResult RunTool(const std::vector<std::string>& argv, std::string* out,
                                   std::string* err) {
  ProcessResult result;
  ::testing::AssertionResult spawned = Spawn(argv, &result);
  if (!spawned) return spawned;
  if (out != nullptr) *out = result.out;
  if (err != nullptr) *err = result.err;
  if (!WIFEXITED(result.status) || WEXITSTATUS(result.status) != 0) {
    return ::testing::AssertionFailure()
           << argv[0] << ": " << DescribeStatus(result.status) << "; stderr:\n"
           << result.err;
  }
  return ::testing::AssertionSuccess();
}

std::string StackwalkPath() { return kStackwalkBin; }

::testing::AssertionResult WriteCrashDump(const std::string& dir, CrashDump* dump) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return ::testing::AssertionFailure() << "mkdir " << dir << ": " << ec.message();

  CrashDump result;
  result.function = kCrashFunction;
  result.source_file = kCrasherSource;
  ::testing::AssertionResult line = FindCrashLine(&result.line);
  if (!line) return line;

  // The crasher dies of its SIGSEGV once the handler is done: its status tells nothing, the
  // path it printed (only after a successful dump) does.
  ProcessResult run;
  ::testing::AssertionResult spawned = Spawn({kCrasherBin, dir}, &run);
  if (!spawned) return spawned;
  std::string path = run.out;
  while (!path.empty() && path.back() == '\n') path.pop_back();
  if (path.empty() || path.find('\n') != std::string::npos) {
    return ::testing::AssertionFailure() << kCrasherBin << " (" << DescribeStatus(run.status)
                                         << ") did not print one minidump path; stdout:\n"
                                         << run.out << "stderr:\n"
                                         << run.err;
  }
  std::error_code same_ec;
  if (!std::filesystem::equivalent(std::filesystem::path(path).parent_path(), dir, same_ec)) {
    return ::testing::AssertionFailure() << "the minidump " << path << " is not in " << dir;
  }
  std::ifstream in(path, std::ios::binary);
  std::string magic(4, '\0');
  if (!in.read(magic.data(), static_cast<std::streamsize>(magic.size())) || magic != "MDMP") {
    return ::testing::AssertionFailure() << path << " is not a minidump (no MDMP header)";
  }
  result.minidump = path;
  *dump = result;
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult WriteSymbolTree(const std::string& root,
                                           std::string* sym_relative_path) {
  std::string symbols;
  ::testing::AssertionResult ran = RunTool({kDumpSymsBin, kCrasherBin}, &symbols);
  if (!ran) return ran;

  // "MODULE Linux x86_64 <id> crasher": stackwalk looks the file up by module name and id.
  std::istringstream first_line(symbols.substr(0, symbols.find('\n')));
  std::string keyword;
  std::string os;
  std::string arch;
  std::string id;
  std::string module;
  if (!(first_line >> keyword >> os >> arch >> id >> module) || keyword != "MODULE") {
    return ::testing::AssertionFailure()
           << kDumpSymsBin << " printed no MODULE line first: " << symbols.substr(0, 200);
  }
  const std::string relative = module + "/" + id + "/" + module + ".sym";
  const std::filesystem::path file = std::filesystem::path(root) / relative;
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  if (ec)
    return ::testing::AssertionFailure() << "mkdir " << file.parent_path() << ": " << ec.message();
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << symbols;
  out.close();
  if (!out) return ::testing::AssertionFailure() << "cannot write " << file;
  *sym_relative_path = relative;
  return ::testing::AssertionSuccess();
}

}  // namespace devserver::testing
