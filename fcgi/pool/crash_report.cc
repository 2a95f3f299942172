#include "fcgi/pool/crash_report.h"

#include <dlfcn.h>
#include <execinfo.h>
#include <signal.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <initializer_list>

// A sanitizer build keeps its own handler (it reports more): nothing below is built there.
#if defined(__SANITIZE_ADDRESS__)
#define DEVSERVER_ADDRESS_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DEVSERVER_ADDRESS_SANITIZER 1
#endif
#endif

namespace devserver {
#ifndef DEVSERVER_ADDRESS_SANITIZER
namespace {

// Everything below runs inside a signal handler: no allocation, no locks, no stdio. The line
// is assembled in a static buffer (one crash per process) and written at once.
char g_line[8192];
size_t g_used = 0;

void Put(const char* text) {
  for (; *text != '\0' && g_used < sizeof g_line - 1; ++text) g_line[g_used++] = *text;
}

void PutHex(uintptr_t value) {
  char digits[2 + sizeof value * 2 + 1];
  size_t n = sizeof digits - 1;
  digits[n] = '\0';
  do {
    digits[--n] = "0123456789abcdef"[value & 0xf];
    value >>= 4;
  } while (value != 0 && n > 2);
  digits[--n] = 'x';
  digits[--n] = '0';
  Put(digits + n);
}

void PutDecimal(long value) {
  char digits[24];
  size_t n = sizeof digits - 1;
  digits[n] = '\0';
  const bool negative = value < 0;
  unsigned long v =
      negative ? 0UL - static_cast<unsigned long>(value) : static_cast<unsigned long>(value);
  do {
    digits[--n] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0 && n > 1);
  if (negative) digits[--n] = '-';
  Put(digits + n);
}

void OnFatalSignal(int sig, siginfo_t* info, void* /*context*/) {
  void* frames[48];
  const int depth = backtrace(frames, 48);
  g_used = 0;
  Put("fatal signal ");
  PutDecimal(sig);
  Put(" (");
  Put(sigabbrev_np(sig) != nullptr ? sigabbrev_np(sig) : "?");
  Put(") in pid ");
  PutDecimal(getpid());
  if (info->si_code <= 0) {  // kill(), sigqueue(), tgkill(): someone sent it
    Put(" sent by pid ");
    PutDecimal(info->si_pid);
  } else {
    Put(" at address ");
    PutHex(reinterpret_cast<uintptr_t>(info->si_addr));
  }
  Put("; stack:");
  for (int i = 0; i < depth; ++i) {
    Put(" ");
    Dl_info where{};
    if (dladdr(frames[i], &where) != 0 && where.dli_fname != nullptr) {
      const char* slash = std::strrchr(where.dli_fname, '/');
      Put(slash != nullptr ? slash + 1 : where.dli_fname);
      Put("+");
      PutHex(reinterpret_cast<uintptr_t>(frames[i]) - reinterpret_cast<uintptr_t>(where.dli_fbase));
      if (where.dli_sname != nullptr) {
        Put("(");
        Put(where.dli_sname);
        Put(")");
      }
    } else {
      PutHex(reinterpret_cast<uintptr_t>(frames[i]));
    }
  }
  Put("\n");
  (void)!write(STDERR_FILENO, g_line, g_used);
  // SA_RESETHAND put the default action back: the signal kills the process as it would have.
  (void)raise(sig);
}

}  // namespace
#endif

void InstallCrashReport() {
#ifndef DEVSERVER_ADDRESS_SANITIZER
  // backtrace() loads libgcc's unwinder on its first call: done here, not in the handler.
  void* warm[2];
  (void)backtrace(warm, 2);
  struct sigaction action {};
  action.sa_sigaction = OnFatalSignal;
  action.sa_flags = SA_SIGINFO | SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) (void)sigaction(sig, &action, nullptr);
#endif
}

}  // namespace devserver
