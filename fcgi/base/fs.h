// Small file-system helpers shared by the pool and the launcher.
#pragma once

#include <sys/types.h>

#include <string>

#include "fcgi/base/status.h"

namespace devserver {

// mkdir -p: creates `path` and its missing parents with `mode`; existing directories are fine.
Status MakeDirectories(const std::string& path, mode_t mode);

// Writes `contents` to `path` through a temporary file and rename(2), so a reader sees the
// old file or the whole new one.
Status WriteFileAtomically(const std::string& path, const std::string& contents);

// The whole file, or an IOError naming it.
Status ReadFile(const std::string& path, std::string* contents);

}  // namespace devserver
