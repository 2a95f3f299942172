#include "fcgi/pool/worker.h"

#include <fcgiapp.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "fcgi/api/endpoints.h"
#include "fcgi/base/batcher.h"
#include "fcgi/base/log.h"
#include "fcgi/http/access_line.h"
#include "fcgi/http/error_response.h"
#include "fcgi/http/fcgi_exchange.h"
#include "fcgi/metrics/metrics.h"
#include "fcgi/pool/connection_queue.h"
#include "fcgi/pool/request_metrics.h"
#include "fcgi/staging/staging_service.h"

namespace devserver {
namespace {

// Closes a finished connection. libfcgi's own close lingers with select(), which breaks on
// descriptors above FD_SETSIZE, so this is ours.
//
// When the request was read to its end, the web server sends nothing more (at most the empty
// stdin record, already here): discard what waits and close at once. Waiting for the web
// server to hang up first cost a sleep and a wake-up per request (measured under wrk on 2
// cores: 2.7 -> 1.6 context switches and 50 -> 34 us of worker CPU per /is_staged, 0.77 ->
// 0.87 of the empty responder's rate). When a handler answered without reading the whole
// body, the web server may still be sending it: half-close and drain, so its write does not
// fail with EPIPE (and the caller get 502) before it has read the response.
void CloseConnection(int fd, bool request_read) {
  if (request_read) {
    char trash[4096];
    size_t discarded = 0;
    ssize_t n;
    while ((n = recv(fd, trash, sizeof trash, MSG_DONTWAIT)) > 0 &&
           discarded < (size_t{64} << 10)) {
      discarded += static_cast<size_t>(n);
    }
    if (n <= 0) {  // EOF, or nothing more waiting
      close(fd);
      return;
    }
  }
  if (shutdown(fd, SHUT_WR) == 0) {
    pollfd p{fd, POLLIN, 0};
    char trash[4096];
    while (poll(&p, 1, 1000) > 0 && read(fd, trash, sizeof trash) > 0) {
    }
  }
  close(fd);
}

// Access lines, formatted when their request ends and written a batch at a time: one write
// to stderr (the journal) per request cost /is_staged several per cent of its rate.
using AccessLog = Batcher<std::string>;
constexpr std::chrono::milliseconds kAccessLogBatch{100};
constexpr size_t kAccessLogMaxBatch = 2048;

Status WriteAccessLines(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += line;
  WriteLogText(text);
  return Status::Ok();
}

void ServeConnection(const Router& router, AccessLog* access_log, RequestMetrics* counts,
                     FCGX_Request* fcgi, int fd) {
  const auto started = std::chrono::steady_clock::now();
  metrics::GaugeScope in_flight(&RequestMetrics::InFlight());
  // libfcgi reads the request from an already-open connection when ipcFd is set; keeping the
  // connection flag stops FCGX_Accept_r's leading FCGX_Finish_r from closing it. A listen
  // socket of -1 makes a broken handshake fail instead of blocking in accept().
  fcgi->ipcFd = fd;
  fcgi->keepConnection = 1;
  if (FCGX_Accept_r(fcgi) != 0) {
    DS_LOG(kWarning) << "dropped a FastCGI connection with a broken handshake";
    return;  // libfcgi has closed it
  }
  Request request;
  Status parsed = ReadFcgiRequest(fcgi, &request);
  FcgiBody body(fcgi->in, request.content_length);
  request.body = &body;
  const Endpoint* endpoint = nullptr;
  Response response = parsed.ok() ? router.Dispatch(request, &endpoint) : ErrorResponse(parsed);
  const auto elapsed = std::chrono::steady_clock::now() - started;
  // Counted, and no longer in flight, before any of the answer leaves: a caller that has it
  // and asks /metrics or /check_health next must find this request counted and ended.
  counts->Count(endpoint, response.status, elapsed);
  in_flight.End();
  WriteFcgiResponse(fcgi, request, response);
  if (access_log != nullptr && LogEnabled(LogLevel::kInfo)) {
    access_log->Add(FormatLogLine(LogLevel::kInfo, AccessLine(request, response, elapsed)));
  }
  // Finishing with keepConnection set flushes the streams and frees the request but leaves
  // the descriptor to us: one connection per request, closed here. When flushing failed
  // (the web server hung up), libfcgi has closed it itself and reset ipcFd.
  fcgi->keepConnection = 1;
  FCGX_Finish_r(fcgi);
  if (fcgi->ipcFd >= 0) CloseConnection(fd, body.consumed());
  fcgi->ipcFd = -1;
}

void RequestThread(const Router& router, AccessLog* access_log, ConnectionQueue* queue) {
  FCGX_Request fcgi;
  FCGX_InitRequest(&fcgi, -1, 0);
  RequestMetrics counts;
  for (int fd = queue->Pop(); fd >= 0; fd = queue->Pop()) {
    ServeConnection(router, access_log, &counts, &fcgi, fd);
    queue->Done();
  }
}

// How the master asked this worker to end.
enum class Ending {
  kNone,
  kDrain,  // SIGQUIT (a reload): finish requests and stagings, up to the drain deadline
  kStop,   // SIGTERM/SIGINT (the service stops): answer waiters now, hand stagings back
};

// Reads termination signals and turns them into a write on `stop_fd`. After a SIGQUIT, a
// SIGTERM still turns the drain into a stop.
void SignalThread(int signal_fd, int stop_fd, std::atomic<Ending>* ending,
                  const std::function<void()>& stop_now) {
  signalfd_siginfo info{};
  while (read(signal_fd, &info, sizeof info) == sizeof info) {
    const bool stop = info.ssi_signo == SIGTERM || info.ssi_signo == SIGINT;
    // SIGHUP is the master's business: it replaces workers; a worker ignores it.
    if (!stop && info.ssi_signo != SIGQUIT) continue;
    const Ending before = ending->exchange(stop ? Ending::kStop : Ending::kDrain);
    if (before == Ending::kNone) {
      uint64_t one = 1;
      if (write(stop_fd, &one, sizeof one) < 0) {
        DS_LOG(kError) << "cannot wake the acceptor: " << ErrnoText(errno);
      }
    }
    if (stop) {
      stop_now();
      break;
    }
  }
}

void AcceptLoop(int listen_fd, int stop_fd, ConnectionQueue* queue,
                const std::atomic<Ending>& ending) {
  pollfd fds[2] = {{listen_fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
  while (ending == Ending::kNone && queue->WaitForIdleThread()) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      DS_LOG(kError) << "poll: " << ErrnoText(errno);
      break;
    }
    if (fds[1].revents != 0) break;
    int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) {
      queue->Push(fd);
    } else if (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS) {
      // Out of descriptors: the connection stays queued in the kernel; retry shortly rather
      // than spinning on a socket that keeps polling readable.
      DS_LOG(kError) << "accept: " << ErrnoText(errno);
      poll(&fds[1], 1, 100);
    }
    // EAGAIN: another worker took the connection first.
  }
}

// How long a draining worker lets its work run: short of the master's SIGKILL at
// drain_timeout, so that what is left still gets an answer.
std::chrono::milliseconds DrainBudget(const Config& config) {
  const int64_t ms = int64_t{config.drain_timeout_s} * 1000;
  return std::chrono::milliseconds(std::max<int64_t>(ms - std::min<int64_t>(ms / 4, 2000), 0));
}

}  // namespace

int RunWorker(const ServiceInfo& service, int listen_fd) {
  SetLogTag("worker" + std::to_string(service.worker_index));
  // A worker must not outlive its master: the master's death means nobody supervises it.
  // The master may have died between fork() and this call, before the kernel knew to tell.
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (service.master_pid != 0 && getppid() != service.master_pid) {
    DS_LOG(kError) << "the master (pid " << service.master_pid << ") died; exiting";
    return 1;
  }

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGQUIT);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  sigset_t unblock;
  sigemptyset(&unblock);
  sigaddset(&unblock, SIGCHLD);
  pthread_sigmask(SIG_UNBLOCK, &unblock, nullptr);
  (void)signal(SIGPIPE, SIG_IGN);  // a web server that hangs up must not kill the worker
  int signal_fd = signalfd(-1, &stop_signals, SFD_CLOEXEC);
  int stop_fd = eventfd(0, EFD_CLOEXEC);
  if (signal_fd < 0 || stop_fd < 0) {
    DS_LOG(kError) << "signalfd/eventfd: " << ErrnoText(errno);
    return 1;
  }
  if (FCGX_Init() != 0) {
    DS_LOG(kError) << "FCGX_Init failed";
    return 1;
  }

  std::unique_ptr<StagingService> staging;
  Status started = StagingService::Start(service.config, service.reads_fd, &staging);
  if (!started.ok()) {
    // The master restarts the worker with a growing back-off; the log says why.
    DS_LOG(kError) << "cannot start staging: " << started.message();
    return 1;
  }

  ServiceInfo info = service;
  info.staging = staging.get();
  Router router;
  RegisterAllEndpoints(info, &router);

  ConnectionQueue queue;
  std::atomic<Ending> ending{Ending::kNone};
  // Before the threads that add to it: destroyed (and flushed) after they are joined.
  std::unique_ptr<AccessLog> access_log;
  if (service.config.access_log) {
    access_log = std::make_unique<AccessLog>(WriteAccessLines, kAccessLogBatch, kAccessLogMaxBatch);
  }
  std::vector<std::thread> threads;
  threads.reserve(service.config.threads);
  for (int i = 0; i < service.config.threads; ++i) {
    threads.emplace_back(RequestThread, std::cref(router), access_log.get(), &queue);
  }
  // A stop answers every waiter at once ("shutting down; ask again") and hands stagings back
  // to the queue, partial downloads included, for the next worker to resume.
  StagingService* service_staging = staging.get();
  std::thread signals(SignalThread, signal_fd, stop_fd, &ending,
                      [service_staging] { service_staging->Shutdown(); });
  DS_LOG(kInfo) << "serving with " << service.config.threads << " request threads";

  AcceptLoop(listen_fd, stop_fd, &queue, ending);

  close(listen_fd);
  queue.Close();
  if (ending == Ending::kDrain) {
    // A reload: the requests in flight (waiters included) and the stagings under way run on
    // while the next generation serves new connections. Stopping short of the master's
    // SIGKILL at drain_timeout lets the stragglers get an answer and hand their work back.
    DS_LOG(kInfo) << "draining: finishing requests and stagings";
    staging->Drain();
    const auto deadline = std::chrono::steady_clock::now() + DrainBudget(service.config);
    while (std::chrono::steady_clock::now() < deadline && ending == Ending::kDrain &&
           (queue.Busy() || staging->busy_stagers() > 0)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (ending == Ending::kDrain && (queue.Busy() || staging->busy_stagers() > 0)) {
      DS_LOG(kWarning) << "drain deadline reached: answering waiters and handing stagings back";
    }
  } else {
    DS_LOG(kInfo) << "stopping";
  }
  staging->Shutdown();
  for (auto& t : threads) t.join();
  if (ending != Ending::kStop) {
    // The signal thread still waits (for a stop after a drain, or for anything when the
    // acceptor failed on its own): wake it so it can be joined.
    kill(getpid(), SIGTERM);
  }
  signals.join();
  DS_LOG(kInfo) << "exiting";
  return 0;
}

}  // namespace devserver
