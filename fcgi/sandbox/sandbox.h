// The confinement devserver-sandbox puts a helper program in before it execs it: the
// minidump_stackwalk that /symbolicate_dump runs on untrusted uploads. Applied to the calling
// process (the launcher, just before exec), in this order:
//
//   1. resource limits (CPU seconds, file size, open files; no core dumps; the address space
//      last, by LimitAddressSpace right before exec: the launcher itself may need more, as
//      under AddressSanitizer, whose allocator maps memory as it goes);
//   2. no new privileges (what the two below require of an unprivileged process);
//   3. file system (Landlock): read and execute beneath the `read` paths, everything beneath
//      the `write` directory, nothing else; TCP connect and bind refused where the kernel's
//      Landlock can (ABI 4+);
//   4. no network (seccomp): socket() fails with EACCES, for every address family, and so
//      does io_uring_setup; system calls of another ABI kill the process.
//
// Landlock needs Linux 5.13; where the kernel lacks it, step 3 is skipped and the result
// says so (the service unit's own ProtectSystem= still bounds what can be written).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fcgi/base/status.h"

namespace devserver::sandbox {

struct Policy {
  std::string write_dir;                // the only place files may be created or changed
  std::vector<std::string> read_paths;  // readable (and executable) beneath each
  uint64_t max_address_space = uint64_t{4} << 30;
  uint64_t max_cpu_seconds = 600;
  uint64_t max_file_size = uint64_t{256} << 20;
  uint64_t max_open_files = 256;
};

struct Applied {
  int landlock_abi = 0;  // 0: the kernel has no Landlock; the file system is not confined
};

// The system directories a dynamically linked program needs to start and run: its loader,
// libraries, ld.so.cache, locale data.
std::vector<std::string> SystemReadPaths();

// Confines the calling process (and what it execs) by `policy`. Irreversible. Failed with
// the reason when a step the kernel supports could not be applied.
Status Confine(const Policy& policy, Applied* applied);

// Limits the address space to policy.max_address_space: the last call before exec.
Status LimitAddressSpace(const Policy& policy);

}  // namespace devserver::sandbox
