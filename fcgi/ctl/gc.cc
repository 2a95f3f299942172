#include "fcgi/ctl/gc.h"

#include <iostream>
#include <string>

#include "fcgi/base/env.h"
#include "fcgi/base/fs.h"
#include "fcgi/cache/evictor.h"
#include "fcgi/cache/janitor.h"
#include "fcgi/config/config.h"
#include "fcgi/ctl/service_command.h"
#include "fcgi/state/state_db.h"

namespace devserver {
namespace {

constexpr const char* kUsage =
    "usage: devserverctl gc [--config FILE] [--dry-run] [--all] [--<config-key>=VALUE ...]\n"
    "\n"
    "Evicts the least recently used builds until the [cache] budget holds (max_cache_size,\n"
    "min_free_percent), never a build that is staging, queued, or was used within [cache]\n"
    "eviction_grace seconds (an API call naming it, or a read under /static/). The service's\n"
    "workers do the same every eviction_interval; this runs it now, and waits while a worker\n"
    "is at it.\n"
    "  --all          evict every build unused for eviction_grace seconds, whatever the budget\n"
    "  --dry-run      list what would be evicted, remove nothing\n"
    "  --config FILE  the service's configuration (default /etc/devserver/devserver.ini if it\n"
    "                 exists); --eviction-grace=0, --state-dir=... etc. override its keys\n";

int Fail(const std::string& message) {
  std::cerr << "devserverctl gc: " << message << "\n";
  return 1;
}

}  // namespace

int RunGc(int argc, char** argv) {
  ServiceArgs args;
  Status s = ParseServiceArgs(argc, argv, {"--dry-run", "--all"}, {}, &args);
  if (!s.ok()) {
    std::cerr << "devserverctl gc: " << s.message() << "\n" << (args.bad_flag ? kUsage : "");
    return 2;
  }
  if (args.help) {
    std::cout << kUsage;
    return 0;
  }
  const Config& config = args.config;
  const bool dry_run = args.switches.count("--dry-run") > 0;
  const bool all = args.switches.count("--all") > 0;
  std::unique_ptr<state::StateDb> db;
  s = OpenServiceState(config, &db);
  if (!s.ok()) return Fail(s.message());

  ExclusiveFileLock host_lock;
  bool held = false;
  s = host_lock.Lock(EvictionLockPath(config), /*wait=*/true, &held);
  if (!s.ok()) return Fail(s.message());

  Evictor evictor(db.get(), Env::Default(), config.static_root);
  if (!dry_run) {
    const int leftovers = evictor.RemoveLeftovers();
    if (leftovers > 0) std::cout << "removed " << leftovers << " trees of interrupted evictions\n";
  }
  EvictionBudget budget = BudgetFromConfig(config);
  budget.all_unused = all;
  EvictionReport report;
  s = evictor.Run(budget, dry_run, &report);
  // What went before a failure went for good: list it either way.
  const char* verb = dry_run ? "would evict " : "evicted ";
  for (const state::EvictableBuild& build : report.evicted) {
    std::cout << verb << build.build << "  " << Size(build.bytes) << "  last used "
              << UtcTime(build.last_used_at) << "\n";
  }
  if (!s.ok()) return Fail(s.message());
  std::cout << (dry_run ? "would free " : "freed ") << Size(report.bytes_freed) << " in "
            << report.evicted.size() << " builds; the cache held " << Size(report.staged_bytes)
            << ", the disk had " << PercentFree(report.disk) << "% free\n";
  if (report.ShortOfBudget()) {
    std::cerr << "devserverctl gc: still " << Size(report.bytes_to_free - report.bytes_freed)
              << " over budget: every build left is staging, queued or used within the last "
              << config.cache_grace_s << " s\n";
  }
  return 0;
}

}  // namespace devserver
