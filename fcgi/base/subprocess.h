// Running an external tool (minidump_stackwalk) from a threaded worker: an argument vector,
// never a shell; a time limit; bounded output.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "fcgi/base/status.h"

namespace devserver {

struct ProcessLimits {
  std::chrono::milliseconds timeout{30000};  // then the process group gets SIGKILL
  size_t max_stdout = 4 << 20;               // bytes kept; the rest is read and dropped
  size_t max_stderr = 64 << 10;
};

struct ProcessResult {
  int exit_code = -1;   // when it exited
  int term_signal = 0;  // when a signal ended it (SIGKILL after a timeout)
  // The time limit was reached and the process group killed: the program had not exited, or
  // something it started still held its stdout or stderr open.
  bool timed_out = false;
  std::string out;  // stdout, up to max_stdout bytes
  std::string err;  // stderr, up to max_stderr bytes
  bool out_truncated = false;
  bool err_truncated = false;
};

// Runs `argv[0]` (an absolute path) with `argv` in its own process group, stdin from
// /dev/null, and no descriptor of the caller but the two pipes. Safe to call from many
// threads at once (posix_spawn; no fork of a threaded process). The child starts with an
// empty signal mask and default dispositions. Returns an error only when the program could
// not be started: Failed "cannot run /x/y: No such file or directory" (or "...: Permission
// denied", "...: not an absolute path", "cannot run an empty command"), or IOError when no
// pipe could be made; how it ended is in `result`. The caller must not reap children with
// waitpid(-1) or ignore SIGCHLD, or the exit status is lost (exit_code stays -1).
Status RunProcess(const std::vector<std::string>& argv, const ProcessLimits& limits,
                  ProcessResult* result);

}  // namespace devserver
