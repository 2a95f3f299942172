// Runs the real service for a test: `devserverctl serve` (nginx + the pool) on a free
// loopback port, with its state in a fresh temporary directory.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "fcgi/base/status.h"
#include "tests/support/temp_dir.h"

namespace devserver::testing {

// Starts a program with stdin from /dev/null and stdout and stderr appended to
// `output_path`; returns its pid, or -1 when it could not start.
pid_t Spawn(const std::vector<std::string>& argv, const std::string& output_path);

// Runs a program to completion; returns its exit status (-1 if it could not run) and its
// combined stdout and stderr in *output.
int RunProgram(const std::vector<std::string>& argv, std::string* output);

// True once `condition` holds, polling every 10 ms for at most `timeout_ms`.
bool PollUntil(const std::function<bool()>& condition, int timeout_ms);

// A free TCP port on 127.0.0.1 (bound and released; the caller retries on a lost race).
int FreePort();
// A free port whose next port is free too (a cluster peer's public and internal listeners).
int FreePortPair();

class ServiceProcess {
 public:
  struct Options {
    int port = 0;     // 0: a free one, chosen at each start
    int workers = 2;  // 0: not passed, so the config file or the default decides
    int threads = 4;
    std::string config_file;  // optional --config
    std::vector<std::string> extra_flags;
  };

  ServiceProcess() = default;
  ServiceProcess(const ServiceProcess&) = delete;
  ServiceProcess& operator=(const ServiceProcess&) = delete;
  ~ServiceProcess();  // stops the service, then removes the temporary directory

  Status Start(const Options& options);
  // Stops the service (SIGTERM, clean exit expected) and starts it again on the same state
  // directory and options, on a new port.
  Status Restart();
  // A crash of the whole service, as a power cut or the OOM killer would leave it: SIGKILLs
  // serve, the pool master, every worker and nginx, so nothing gets to clean up, and waits
  // until all of them are gone. The state directory stays for StartAgain.
  void KillAll();
  // Starts the service again on the same state directory and options after it died
  // (KillAll) or exited. Unlike Restart, it signals nothing.
  Status StartAgain();
  // Sends `sig` to devserverctl serve.
  void Signal(int sig);
  // Waits for serve to exit; returns its exit status, or -1 on timeout.
  int Wait(int timeout_ms);

  int port() const { return port_; }
  const std::string& dir() const;  // empty before Start
  std::string state_dir() const { return dir() + "/state"; }
  pid_t serve_pid() const { return serve_pid_; }
  pid_t master_pid() const;
  std::vector<pid_t> WorkerPids() const;
  // What serve, nginx and the pool have written to stdout and stderr so far.
  std::string Log() const;

 private:
  Status Launch();

  Options options_;
  // Made by Start, kept across Restart; as a member it goes only after the destructor's body
  // has stopped the service.
  std::optional<TempDir> dir_;
  int port_ = 0;
  pid_t serve_pid_ = -1;
};

// The direct children of `pid`.
std::vector<pid_t> ChildrenOf(pid_t pid);

}  // namespace devserver::testing
