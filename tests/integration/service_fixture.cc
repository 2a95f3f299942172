#include "tests/integration/service_fixture.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "fcgi/base/fs.h"
#include "tests/integration/http_client.h"

extern char** environ;

namespace devserver::testing {

pid_t Spawn(const std::vector<std::string>& argv, const std::string& output_path) {
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, output_path.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

int RunProgram(const std::vector<std::string>& argv, std::string* output) {
  char tmpl[] = "/tmp/devserver-run-XXXXXX";
  int fd = mkstemp(tmpl);
  if (fd < 0) return -1;
  close(fd);
  pid_t pid = Spawn(argv, tmpl);
  int status = -1;
  if (pid > 0) waitpid(pid, &status, 0);
  ReadFile(tmpl, output);
  unlink(tmpl);
  if (pid <= 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool PollUntil(const std::function<bool()>& condition, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

namespace {

bool PortIsFree(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool free = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return free;
}

}  // namespace

int FreePortPair() {
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int port = FreePort();
    if (port > 0 && port < 65535 && PortIsFree(port + 1)) return port;
  }
  return 0;
}

std::vector<pid_t> ChildrenOf(pid_t pid) {
  std::vector<pid_t> children;
  std::error_code ec;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream in(task.path() / "children");
    pid_t child;
    while (in >> child) children.push_back(child);
  }
  return children;
}

ServiceProcess::~ServiceProcess() {
  if (serve_pid_ > 0) {
    Signal(SIGTERM);
    if (Wait(30000) == -1) {
      kill(serve_pid_, SIGKILL);
      waitpid(serve_pid_, nullptr, 0);
    }
  }
  // A sanitizer report in a worker kills only that worker, and the master replaces it: the
  // test would pass. The log is where such a report shows.
  std::string log = Log();
  for (const char* report : {"AddressSanitizer", "LeakSanitizer", "runtime error:"}) {
    if (log.find(report) != std::string::npos) ADD_FAILURE() << "sanitizer report:\n" << log;
  }
}

Status ServiceProcess::Start(const Options& options) {
  dir_.emplace("devserver-itest");
  options_ = options;
  return Launch();
}

const std::string& ServiceProcess::dir() const {
  static const std::string kNotStarted;
  return dir_ ? dir_->path() : kNotStarted;
}

Status ServiceProcess::Restart() {
  Signal(SIGTERM);
  int rc = Wait(30000);
  if (rc != 0) return Status::Failed("service exited with " + std::to_string(rc) + " on SIGTERM");
  return Launch();
}

namespace {

// True once `pid` has exited: gone, or a zombie nobody has reaped yet (its files, locks and
// sockets are already released).
bool Exited(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return true;
  size_t paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] == 'Z';
}

}  // namespace

void ServiceProcess::KillAll() {
  if (serve_pid_ <= 0) return;
  const pid_t master = master_pid();
  std::vector<pid_t> victims = {serve_pid_};
  // serve first, so it cannot react to its children's deaths by stopping the others.
  std::vector<pid_t> serve_children = ChildrenOf(serve_pid_);
  kill(serve_pid_, SIGKILL);
  waitpid(serve_pid_, nullptr, 0);
  serve_pid_ = -1;
  // The master is stopped before its workers die, so it cannot respawn them, and killed
  // after, so the workers' PR_SET_PDEATHSIG cannot turn their end into a graceful drain.
  if (master > 0) {
    kill(master, SIGSTOP);
    for (pid_t worker : ChildrenOf(master)) {
      kill(worker, SIGKILL);
      victims.push_back(worker);
    }
    kill(master, SIGKILL);
    victims.push_back(master);
  }
  for (pid_t child : serve_children) {
    if (child == master) continue;
    std::vector<pid_t> nginx_workers = ChildrenOf(child);  // nginx: its master, then workers
    kill(child, SIGKILL);
    victims.push_back(child);
    for (pid_t worker : nginx_workers) {
      kill(worker, SIGKILL);
      victims.push_back(worker);
    }
  }
  PollUntil(
      [&] {
        for (pid_t pid : victims) {
          if (!Exited(pid)) return false;
        }
        return true;
      },
      10000);
}

Status ServiceProcess::StartAgain() {
  if (serve_pid_ > 0) return Status::Failed("the service is still running");
  return Launch();
}

Status ServiceProcess::Launch() {
  const Options& options = options_;
  for (int attempt = 0; attempt < 3; ++attempt) {
    port_ = options.port > 0 ? options.port : FreePort();
    std::vector<std::string> argv = {DEVSERVERCTL_BIN, "serve", "--port=" + std::to_string(port_),
                                     "--state-dir=" + state_dir(), "--test-endpoints=true"};
    if (options.workers > 0) argv.push_back("--workers=" + std::to_string(options.workers));
    if (options.threads > 0) argv.push_back("--threads=" + std::to_string(options.threads));
    if (!options.config_file.empty()) argv.push_back("--config=" + options.config_file);
    argv.insert(argv.end(), options.extra_flags.begin(), options.extra_flags.end());
    serve_pid_ = Spawn(argv, dir() + "/serve.log");
    if (serve_pid_ <= 0) return Status::Failed("cannot start " DEVSERVERCTL_BIN);
    bool exited = false;
    bool ready = PollUntil(
        [&] {
          int status = 0;
          if (waitpid(serve_pid_, &status, WNOHANG) == serve_pid_) {
            exited = true;
            return true;
          }
          return Log().find("devserver: serving on") != std::string::npos &&
                 HttpGet(port_, "/check_health", 2000).status == 200;
        },
        30000);
    if (ready && !exited) return Status::Ok();
    serve_pid_ = -1;
    // A port taken between FreePort() and nginx's bind is the only reason to try again.
    if (options.port > 0 || Log().find("Address already in use") == std::string::npos) break;
  }
  return Status::Failed("service did not start; its log:\n" + Log());
}

void ServiceProcess::Signal(int sig) {
  if (serve_pid_ > 0) kill(serve_pid_, sig);
}

int ServiceProcess::Wait(int timeout_ms) {
  int result = -1;
  PollUntil(
      [&] {
        int status = 0;
        if (waitpid(serve_pid_, &status, WNOHANG) != serve_pid_) return false;
        result = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return true;
      },
      timeout_ms);
  if (result != -1) serve_pid_ = -1;
  return result;
}

pid_t ServiceProcess::master_pid() const {
  std::string text;
  if (!ReadFile(state_dir() + "/run/devserver-fcgi.pid", &text).ok()) return -1;
  return static_cast<pid_t>(std::atoi(text.c_str()));
}

std::vector<pid_t> ServiceProcess::WorkerPids() const { return ChildrenOf(master_pid()); }

std::string ServiceProcess::Log() const {
  std::string text;
  ReadFile(dir() + "/serve.log", &text);
  return text;
}

}  // namespace devserver::testing
