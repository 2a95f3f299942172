// What endpoint handlers may know about the running service.
#pragma once

#include <cstdint>
#include <string>

#include "fcgi/base/env.h"
#include "fcgi/config/config.h"

namespace devserver {

class StagingService;

struct ServiceInfo {
  Config config;
  Env* env = nullptr;
  int64_t started_at = 0;             // wall seconds when the master started
  int worker_index = 0;               // which worker slot this process fills (0-based)
  StagingService* staging = nullptr;  // this worker's; set once the worker has started it
  int reads_fd = -1;   // the datagram socket nginx logs /static/ reads to; -1: not counted
  int master_pid = 0;  // the pool master that forked this worker
};

}  // namespace devserver
