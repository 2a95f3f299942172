#include "fcgi/pool/master.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#include "fcgi/api/service.h"
#include "fcgi/base/env.h"
#include "fcgi/base/log.h"
#include "fcgi/metrics/metric_table.h"
#include "fcgi/metrics/metrics.h"
#include "fcgi/pool/host_sampler.h"
#include "fcgi/pool/listen_socket.h"
#include "fcgi/pool/worker.h"

namespace devserver {
namespace {

constexpr int64_t kMinBackoffMicros = 100'000;
constexpr int64_t kMaxBackoffMicros = 10'000'000;
// A worker that ran at least this long was healthy; its death resets the back-off.
constexpr int64_t kHealthyLifetimeMicros = 5'000'000;
// Cells of the metric table: the catalogue's series by every endpoint, status, artifact type
// and failure kind take a few hundred; each worker's gauges two more, freed when it dies.
constexpr size_t kMetricCells = 4096;
// How often the host's CPU, network and disk counters are read: /check_health's rates are
// averages over this interval.
constexpr int64_t kHostSampleMicros = 1'000'000;

struct WorkerProcess {
  pid_t pid = 0;
  int index = 0;
  int generation = 0;
  int64_t started_us = 0;
  int64_t kill_at_us = 0;  // when draining: the moment it gets SIGKILL; 0 = not draining
};

std::string DescribeExit(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = sigabbrev_np(WTERMSIG(status));
    return std::string("killed by SIG") + (name != nullptr ? name : "?");
  }
  return "stopped";
}

class Master {
 public:
  Master(const MasterOptions& options, Config config)
      : options_(options), config_(std::move(config)), env_(Env::Default()) {}

  int Run();

 private:
  void Spawn(int index);
  void ReapChildren();
  void BeginStop();
  void Reload();
  // Sends `sig` to every worker not already on its way out, with drain_timeout to go.
  void EndWorkers(int sig);
  int64_t NextWakeupMicros() const;

  MasterOptions options_;
  Config config_;
  Env* env_;
  int listen_fd_ = -1;
  int reads_fd_ = -1;
  int signal_fd_ = -1;
  int generation_ = 0;
  int64_t started_at_ = 0;
  bool stopping_ = false;
  std::vector<WorkerProcess> workers_;
  std::map<int, int64_t> respawn_due_us_;  // worker index -> when to start it again
  std::map<int, int64_t> backoff_us_;      // worker index -> current back-off
  // Outlives every worker: a count survives the worker that made it.
  std::unique_ptr<metrics::MetricTable> metric_table_;
  // Here rather than in the workers: one reading of /proc per host, whatever the pool's size.
  HostSampler host_sampler_;
  int64_t next_host_sample_us_ = 0;
};

int Master::Run() {
  SetLogTag("master");
  started_at_ = env_->WallSeconds();
  Status table = metrics::MetricTable::Create(kMetricCells, &metric_table_);
  if (!table.ok()) {
    DS_LOG(kError) << table.message();
    return 1;
  }
  metric_table_->set_start_time(static_cast<double>(started_at_));
  metrics::Install(metric_table_.get());
  // The first sample is the base of the first rates, a second from now.
  const int64_t first_sample_us = env_->MonotonicMicros();
  host_sampler_.Sample(first_sample_us);
  next_host_sample_us_ = first_sample_us + kHostSampleMicros;
  sigset_t handled;
  sigemptyset(&handled);
  // Blocked here, so also in a worker from fork() until it reads them itself: SIGQUIT there
  // means "drain", never the default core dump.
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP}) sigaddset(&handled, sig);
  pthread_sigmask(SIG_BLOCK, &handled, nullptr);
  signal_fd_ = signalfd(-1, &handled, SFD_CLOEXEC);
  if (signal_fd_ < 0) {
    DS_LOG(kError) << "signalfd: " << ErrnoText(errno);
    return 1;
  }
  Status s = OpenListenSocket(config_, &listen_fd_);
  if (s.ok()) s = OpenReadsSocket(config_, &reads_fd_);
  if (!s.ok()) {
    DS_LOG(kError) << s.message();
    return 1;
  }
  DS_LOG(kInfo) << "listening on " << config_.socket << "; starting " << config_.EffectiveWorkers()
                << " workers";
  for (int i = 0; i < config_.EffectiveWorkers(); ++i) Spawn(i);

  while (!(stopping_ && workers_.empty())) {
    int64_t now = env_->MonotonicMicros();
    if (now >= next_host_sample_us_) {
      host_sampler_.Sample(now);
      next_host_sample_us_ = now + kHostSampleMicros;
    }
    for (auto it = respawn_due_us_.begin(); it != respawn_due_us_.end();) {
      if (it->second <= now) {
        Spawn(it->first);
        it = respawn_due_us_.erase(it);
      } else {
        ++it;
      }
    }
    for (WorkerProcess& w : workers_) {
      if (w.kill_at_us != 0 && w.kill_at_us <= now) {
        DS_LOG(kWarning) << "worker " << w.index << " (pid " << w.pid
                         << ") still busy after drain_timeout; killing it";
        kill(w.pid, SIGKILL);
        w.kill_at_us = INT64_MAX;  // killed; wait for the reap
      }
    }
    int64_t wake = NextWakeupMicros();
    int timeout_ms =
        wake == INT64_MAX ? -1 : static_cast<int>(std::max<int64_t>(0, (wake - now + 999) / 1000));
    pollfd p{signal_fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) continue;
    signalfd_siginfo info{};
    if (read(signal_fd_, &info, sizeof info) != sizeof info) continue;
    switch (info.ssi_signo) {
      case SIGCHLD:
        ReapChildren();
        break;
      case SIGTERM:
      case SIGINT:
      case SIGQUIT:
        BeginStop();
        break;
      case SIGHUP:
        Reload();
        break;
    }
  }
  close(listen_fd_);
  if (reads_fd_ >= 0) close(reads_fd_);
  metrics::Install(nullptr);
  DS_LOG(kInfo) << "all workers stopped; exiting";
  return 0;
}

void Master::Spawn(int index) {
  const pid_t master_pid = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    DS_LOG(kError) << "fork: " << ErrnoText(errno) << "; retrying";
    respawn_due_us_[index] = env_->MonotonicMicros() + kMinBackoffMicros;
    return;
  }
  if (pid == 0) {
    close(signal_fd_);
    int code = 0;
    {
      ServiceInfo service{config_, env_, started_at_, index};
      service.reads_fd = reads_fd_;
      service.master_pid = master_pid;
      code = RunWorker(service, listen_fd_);
    }
#if defined(__SANITIZE_ADDRESS__)
    // _exit skips LeakSanitizer's exit-time check; workers must be checked too.
    __lsan_do_leak_check();
#endif
    _exit(code);
  }
  workers_.push_back({pid, index, generation_, env_->MonotonicMicros(), 0});
  DS_LOG(kInfo) << "started worker " << index << " (pid " << pid << ")";
}

void Master::ReapChildren() {
  int status = 0;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    auto it = std::find_if(workers_.begin(), workers_.end(),
                           [&](const WorkerProcess& w) { return w.pid == pid; });
    if (it == workers_.end()) continue;
    WorkerProcess w = *it;
    workers_.erase(it);
    metric_table_->ReleaseOwner(pid);  // its share of the gauges ends with it
    bool replace = !stopping_ && w.kill_at_us == 0 && w.generation == generation_;
    if (!replace) {
      DS_LOG(kInfo) << "worker " << w.index << " (pid " << pid << ") " << DescribeExit(status);
      continue;
    }
    metrics::Add("devserver_worker_restarts_total");
    int64_t now = env_->MonotonicMicros();
    int64_t& backoff = backoff_us_[w.index];
    if (now - w.started_us >= kHealthyLifetimeMicros) {
      backoff = 0;
    } else {
      backoff = std::clamp(backoff * 2, kMinBackoffMicros, kMaxBackoffMicros);
    }
    DS_LOG(kWarning) << "worker " << w.index << " (pid " << pid << ") " << DescribeExit(status)
                     << "; restarting it in " << backoff / 1000 << " ms";
    respawn_due_us_[w.index] = now + backoff;
  }
}

void Master::EndWorkers(int sig) {
  int64_t deadline = env_->MonotonicMicros() + int64_t{config_.drain_timeout_s} * 1'000'000;
  for (WorkerProcess& w : workers_) {
    // A worker draining for a reload still gets a stop: it then answers its waiters and hands
    // its stagings back at once, against the deadline it already had.
    if (w.kill_at_us != 0 && sig != SIGTERM) continue;
    kill(w.pid, sig);
    if (w.kill_at_us == 0) w.kill_at_us = std::max<int64_t>(deadline, 1);
  }
}

void Master::BeginStop() {
  if (stopping_) return;
  stopping_ = true;
  respawn_due_us_.clear();
  // Without the socket file, nginx fails new requests at once instead of queueing them
  // behind workers that will never accept them.
  RemoveListenSocket(config_);
  RemoveReadsSocket(config_);
  DS_LOG(kInfo) << "stopping: " << workers_.size() << " workers finish their requests (up to "
                << config_.drain_timeout_s << " s)";
  EndWorkers(SIGTERM);
}

void Master::Reload() {
  if (stopping_) {
    // Workers started now would outlive the stop nobody would end them for.
    DS_LOG(kWarning) << "ignoring SIGHUP: the pool is stopping";
    return;
  }
  Config fresh;
  Status s = LoadMasterConfig(options_, &fresh);
  if (!s.ok()) {
    DS_LOG(kError) << "reload refused, keeping the running configuration: " << s.message();
    return;
  }
  if (fresh.socket != config_.socket || fresh.socket_mode != config_.socket_mode ||
      fresh.socket_group != config_.socket_group || fresh.backlog != config_.backlog ||
      fresh.reads_socket != config_.reads_socket) {
    DS_LOG(kWarning) << "socket settings change only on restart; keeping " << config_.socket;
    fresh.socket = config_.socket;
    fresh.socket_mode = config_.socket_mode;
    fresh.socket_group = config_.socket_group;
    fresh.backlog = config_.backlog;
    fresh.reads_socket = config_.reads_socket;
  }
  SetMinLogLevel(ParseLogLevel(fresh.log_level));
  // The old generation drains (SIGQUIT: it finishes its requests, waiters included, and its
  // stagings, up to drain_timeout); the new one starts at once on the same socket, so
  // connections keep being accepted throughout.
  EndWorkers(SIGQUIT);
  config_ = fresh;
  ++generation_;
  respawn_due_us_.clear();
  backoff_us_.clear();
  DS_LOG(kInfo) << "reloaded configuration; starting generation " << generation_ << " with "
                << config_.EffectiveWorkers() << " workers";
  for (int i = 0; i < config_.EffectiveWorkers(); ++i) Spawn(i);
}

int64_t Master::NextWakeupMicros() const {
  int64_t wake = next_host_sample_us_;
  for (const auto& [index, due] : respawn_due_us_) wake = std::min(wake, due);
  for (const WorkerProcess& w : workers_) {
    if (w.kill_at_us != 0 && w.kill_at_us != INT64_MAX) wake = std::min(wake, w.kill_at_us);
  }
  return wake;
}

}  // namespace

Status LoadMasterConfig(const MasterOptions& options, Config* config) {
  *config = DefaultConfig();
  if (!options.config_path.empty()) {
    Status s = LoadConfigFile(options.config_path, config);
    if (!s.ok()) return s;
  }
  for (const auto& [flag, value] : options.overrides) {
    Status s = ApplyConfigOverride(flag, value, config);
    if (!s.ok()) return s;
  }
  return ValidateConfig(*config);
}

int RunMaster(const MasterOptions& options, Config config) {
  Master master(options, std::move(config));
  return master.Run();
}

}  // namespace devserver
