// crasher DUMP_DIR: installs Breakpad's exception handler writing minidumps into DUMP_DIR, then
// crashes in devserver_test_crash_here() at the line marked CRASH-LINE. The handler prints the
// minidump's path on stdout. The symbolication tests check that minidump_stackwalk names that
// function and line (breakpad_fixture.cc reads the line number from this file, so the marker
// may move freely).
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <string>

#include "client/linux/handler/exception_handler.h"

namespace {

// Runs in the signal handler after the dump is written: only async-signal-safe calls here,
// hence write(2) rather than stdio.
bool DumpWritten(const google_breakpad::MinidumpDescriptor& descriptor, void* /*context*/,
                 bool succeeded) {
  if (succeeded) {
    const char* path = descriptor.path();
    const ssize_t ignored_path = write(STDOUT_FILENO, path, strlen(path));
    const ssize_t ignored_newline = write(STDOUT_FILENO, "\n", 1);
    (void)ignored_path;
    (void)ignored_newline;
  }
  return succeeded;
}

// Volatile, so that no optimiser can prove the store below faults and replace it with a trap
// or drop it: the dump must show an ordinary SIGSEGV at that line.
int* volatile g_target = nullptr;

}  // namespace

// Global and not static: the symbol file then names it exactly "devserver_test_crash_here()".
// noinline keeps it a frame of its own whatever the optimisation level.
__attribute__((noinline)) void devserver_test_crash_here() {
  *g_target = 42;  // CRASH-LINE
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " DUMP_DIR\n";
    return 2;
  }
  google_breakpad::MinidumpDescriptor descriptor{std::string(argv[1])};
  google_breakpad::ExceptionHandler handler(descriptor, /*filter=*/nullptr, DumpWritten,
                                            /*callback_context=*/nullptr,
                                            /*install_handler=*/true, /*server_fd=*/-1);
  devserver_test_crash_here();
  // Only reached if the store did not fault.
  std::cerr << "crasher: devserver_test_crash_here() returned\n";
  return 3;
}
