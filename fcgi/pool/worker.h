// A worker process: one acceptor thread and `threads` request threads around one router.
#pragma once

#include "fcgi/api/service.h"

namespace devserver {

// Runs until SIGTERM/SIGINT (or the master's death), then stops accepting, lets accepted
// requests finish and returns the process exit code. Called in the child after fork().
int RunWorker(const ServiceInfo& service, int listen_fd);

}  // namespace devserver
