// devserverctl status: what the service is doing and holding, from its state file.
#pragma once

namespace devserver {

// The `status` command; argv[0] is "status". Returns the process exit code.
int RunStatus(int argc, char** argv);

}  // namespace devserver
