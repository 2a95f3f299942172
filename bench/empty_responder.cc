// The API-path baseline of bench/run: a FastCGI responder that does nothing but answer "ok",
// built with the same libfcgi and run with the same worker and thread counts as the pool.
// Behind the same nginx configuration it shows what nginx + FastCGI cost by themselves, so
// devserver's endpoints can be reported as a fraction of it.
//
//   devserver-empty-responder --socket PATH [--workers N] [--threads T]
//
// A master creates the Unix socket and forks N workers; each runs T threads in the classic
// libfcgi loop (FCGX_Accept_r under the library's own accept lock). SIGTERM stops it all.
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

void Serve(int socket_fd) {
  FCGX_Request request;
  FCGX_InitRequest(&request, socket_fd, 0);
  while (FCGX_Accept_r(&request) == 0) {
    FCGX_FPrintF(request.out, "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nok");
    FCGX_Finish_r(&request);
  }
}

void RunWorker(int socket_fd, int threads) {
  std::vector<std::thread> pool;
  pool.reserve(static_cast<size_t>(threads));
  for (int i = 0; i < threads; ++i) pool.emplace_back(Serve, socket_fd);
  for (std::thread& t : pool) t.join();
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket_path;
  int workers = 2;
  int threads = 256;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--socket") {
      socket_path = argv[i + 1];
    } else if (flag == "--workers") {
      workers = std::atoi(argv[i + 1]);
    } else if (flag == "--threads") {
      threads = std::atoi(argv[i + 1]);
    }
  }
  if (socket_path.empty() || workers < 1 || threads < 1) {
    (void)std::fprintf(stderr, "usage: %s --socket PATH [--workers N] [--threads T]\n", argv[0]);
    return 2;
  }
  if (FCGX_Init() != 0) return 1;
  unlink(socket_path.c_str());
  const int fd = FCGX_OpenSocket(socket_path.c_str(), 1024);
  if (fd < 0) {
    (void)std::fprintf(stderr, "cannot listen on %s\n", socket_path.c_str());
    return 1;
  }
  std::vector<pid_t> children;
  for (int i = 0; i < workers; ++i) {
    const pid_t pid = fork();
    if (pid == 0) {
      RunWorker(fd, threads);
      _exit(0);
    }
    if (pid > 0) children.push_back(pid);
  }
  // The master only waits; SIGTERM to it (or its process group) ends the workers too.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  int sig = 0;
  sigwait(&set, &sig);
  for (const pid_t pid : children) kill(pid, SIGKILL);
  for (const pid_t pid : children) waitpid(pid, nullptr, 0);
  unlink(socket_path.c_str());
  return 0;
}
