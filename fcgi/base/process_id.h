// This process's id without a system call per use: log lines and per-process metrics ask
// for it on every request.
#pragma once

#include <sys/types.h>

namespace devserver {

// getpid(), read once per process; a fork() clears it, so a child never reports its parent's.
pid_t CurrentPid();

}  // namespace devserver
