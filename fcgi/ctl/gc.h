// devserverctl gc: evict least recently used builds now, by the [cache] budget or all unused.
#pragma once

namespace devserver {

// The `gc` command; argv[0] is "gc". Returns the process exit code.
int RunGc(int argc, char** argv);

}  // namespace devserver
