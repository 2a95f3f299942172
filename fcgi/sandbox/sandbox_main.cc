// devserver-sandbox: runs a helper program confined (see sandbox.h). The service runs
// minidump_stackwalk through it on uploaded dumps:
//
//   devserver-sandbox --write DIR [--read PATH]... [--max-address-space BYTES]
//                     [--max-cpu SECONDS] [--max-file-size BYTES] -- PROGRAM [ARG]...
//
// The program starts in DIR, with TMPDIR=DIR and HOME=DIR. Exit status 126: it could not be
// confined (the reason on stderr); 127: it could not be started; otherwise the program's.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fcgi/base/status.h"
#include "fcgi/sandbox/sandbox.h"

namespace {

constexpr const char* kUsage =
    "usage: devserver-sandbox --write DIR [--read PATH]... [--max-address-space BYTES]\n"
    "                         [--max-cpu SECONDS] [--max-file-size BYTES] -- PROGRAM [ARG]...\n";

bool ParseSize(const char* text, uint64_t* out) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v == 0) return false;
  *out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  devserver::sandbox::Policy policy;
  policy.read_paths = devserver::sandbox::SystemReadPaths();
  int i = 1;
  for (; i < argc && std::strcmp(argv[i], "--") != 0; i += 2) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) {
      (void)std::fputs(kUsage, stderr);
      return 2;
    }
    const char* value = argv[i + 1];
    bool ok = true;
    if (flag == "--write") {
      policy.write_dir = value;
    } else if (flag == "--read") {
      policy.read_paths.emplace_back(value);
    } else if (flag == "--max-address-space") {
      ok = ParseSize(value, &policy.max_address_space);
    } else if (flag == "--max-cpu") {
      ok = ParseSize(value, &policy.max_cpu_seconds);
    } else if (flag == "--max-file-size") {
      ok = ParseSize(value, &policy.max_file_size);
    } else {
      ok = false;
    }
    if (!ok) {
      (void)std::fprintf(stderr, "devserver-sandbox: bad flag %s %s\n%s", flag.c_str(), value,
                         kUsage);
      return 2;
    }
  }
  if (i + 1 >= argc || policy.write_dir.empty() || argv[i + 1][0] != '/') {
    (void)std::fputs(kUsage, stderr);
    return 2;
  }
  char** program = argv + i + 1;
  devserver::sandbox::Applied applied;
  devserver::Status s = devserver::sandbox::Confine(policy, &applied);
  if (!s.ok()) {
    (void)std::fprintf(stderr, "devserver-sandbox: %s\n", s.message().c_str());
    return 126;
  }
  // NOLINTBEGIN(concurrency-mt-unsafe): the launcher is single-threaded.
  if (chdir(policy.write_dir.c_str()) != 0 || setenv("TMPDIR", policy.write_dir.c_str(), 1) != 0 ||
      setenv("HOME", policy.write_dir.c_str(), 1) != 0) {
    (void)std::fprintf(stderr, "devserver-sandbox: %s: %s\n", policy.write_dir.c_str(),
                       devserver::ErrnoText(errno).c_str());
    return 126;
  }
  s = devserver::sandbox::LimitAddressSpace(policy);
  if (!s.ok()) {
    (void)std::fprintf(stderr, "devserver-sandbox: %s\n", s.message().c_str());
    return 126;
  }
  // NOLINTEND(concurrency-mt-unsafe)
  execv(program[0], program);
  (void)std::fprintf(stderr, "devserver-sandbox: cannot run %s: %s\n", program[0],
                     devserver::ErrnoText(errno).c_str());
  // No exit handlers: under the address-space limit now in force they may not have the
  // memory they want (LeakSanitizer's, in a sanitizer build).
  _exit(127);
}
