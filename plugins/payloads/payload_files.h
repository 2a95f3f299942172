// How payload objects land in the output directory: renamed in (never copied), under
// directories made on demand, plus the relative links the update clients expect.
#pragma once

#include <string>

#include "devserver/plugin.h"

namespace devserver::payloads {

// Renames the fetched copy of `object` to `relative_path` under ctx.OutputDir(), creating the
// parent directories. Errors start with "<artifact>: ".
Status MoveIntoOutput(const std::string& artifact, plugin::InstallContext& ctx,
                      const std::string& object, const std::string& relative_path);

// Creates the symlink `relative_path` (under ctx.OutputDir()) pointing at `target` as given.
Status LinkInOutput(const std::string& artifact, plugin::InstallContext& ctx,
                    const std::string& target, const std::string& relative_path);

}  // namespace devserver::payloads
