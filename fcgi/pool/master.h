// The master process: owns the listening socket, keeps `workers` worker processes running.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "fcgi/config/config.h"

namespace devserver {

struct MasterOptions {
  std::string config_path;  // re-read on SIGHUP; empty when running on defaults and flags
  std::vector<std::pair<std::string, std::string>> overrides;  // flags, re-applied on SIGHUP
};

// Loads the configuration: defaults, then the file, then the flags.
Status LoadMasterConfig(const MasterOptions& options, Config* config);

// Runs the pool until SIGTERM/SIGINT; returns the process exit code.
//  - A worker that dies is replaced, after a back-off that grows while workers keep dying
//    young, so a crash loop does not spin.
//  - SIGTERM/SIGINT: workers stop accepting and finish in-flight requests; whatever still
//    runs after drain_timeout is killed; the socket file is removed.
//  - SIGHUP: the configuration is re-read; a new generation of workers starts on the same
//    socket and the old one drains, so no connection is refused.
// The master never opens the database: connections must not cross fork().
int RunMaster(const MasterOptions& options, Config config);

}  // namespace devserver
