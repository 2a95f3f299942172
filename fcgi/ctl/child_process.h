// Starting and stopping the programs devserverctl supervises (nginx, the pool).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "fcgi/base/status.h"

namespace devserver {

// Starts `argv[0]` (an absolute path) with `argv`; stdout and stderr are inherited.
Status StartChild(const std::vector<std::string>& argv, pid_t* pid);

// The directory holding the running executable (from /proc/self/exe).
std::string SelfExecutableDir();

// Searches PATH (then /usr/sbin and /sbin) for `name`; empty when absent.
std::string FindProgram(const std::string& name);

}  // namespace devserver
