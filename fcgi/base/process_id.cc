#include "fcgi/base/process_id.h"

#include <pthread.h>
#include <unistd.h>

#include <atomic>

namespace devserver {
namespace {

std::atomic<pid_t> g_pid{0};
[[maybe_unused]] const int g_pid_reset = pthread_atfork(nullptr, nullptr, [] { g_pid = 0; });

}  // namespace

pid_t CurrentPid() {
  pid_t pid = g_pid.load(std::memory_order_relaxed);
  if (pid == 0) {
    pid = getpid();
    g_pid.store(pid, std::memory_order_relaxed);
  }
  return pid;
}

}  // namespace devserver
