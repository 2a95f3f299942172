// `devserverctl serve`: runs nginx and the pool together from one state directory.
#pragma once

namespace devserver {

// argv[0] is "serve". Returns the process exit code.
int RunServe(int argc, char** argv);

}  // namespace devserver
