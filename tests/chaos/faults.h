// The chaos run's fault injector: one thread that, at seeded random times, SIGKILLs a worker,
// the pool master or the whole service (and starts it again), reloads it with SIGHUP, arms
// upstream faults at the fake GCS, replaces objects with new generations, and (when the
// service has --test-faults) sets file-system fault rules. Every fault goes into the journal
// before it strikes.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "tests/chaos/context.h"

namespace devserver::chaos {

// The fault loop, until ctx->stop_faults. Leaves the service running.
void RunFaults(Context* ctx);

// Starts the service again after it died, retrying for up to a minute; on success updates
// ctx->port, ctx->up and ctx->up_since_ms. False (with a violation recorded) if it never came
// back.
bool BringBack(Context* ctx);

// ServiceProcess::Start/StartAgain leave `devserverctl serve` running when it never got ready
// (e.g. workers that keep dying at start): stops every such child of this process (SIGTERM,
// then SIGKILL after 40 s), by pid.
// Returns how many it stopped.
int StopStrayServe();

// The errno names the file-system fault rules use, and their text as a cause shows it
// ("EROFS" -> "Read-only file system"); empty for a name it does not know.
const std::vector<std::pair<std::string, int>>& FsErrnos();
std::string FsErrnoText(const std::string& name);

// Writes the file-system fault rules (one per line) atomically to ctx->fs_rules_path.
void WriteFsRules(Context* ctx, const std::string& rules);

}  // namespace devserver::chaos
