#include "fcgi/ctl/gc.h"

#include <unistd.h>

#include <ctime>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "fcgi/base/env.h"
#include "fcgi/base/flags.h"
#include "fcgi/base/fs.h"
#include "fcgi/config/config.h"
#include "fcgi/staging/evictor.h"
#include "fcgi/staging/janitor.h"
#include "fcgi/staging/staging_service.h"
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

constexpr const char* kInstalledConfig = "/etc/devserver/devserver.ini";

int Fail(const std::string& message) {
  std::cerr << "devserverctl gc: " << message << "\n";
  return 1;
}

std::string Mib(int64_t bytes) { return std::to_string((bytes + (1 << 19)) >> 20) + " MiB"; }

std::string When(int64_t unix_seconds) {
  const time_t t = unix_seconds;
  struct tm tm {};
  char text[32];
  if (gmtime_r(&t, &tm) == nullptr ||
      strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0) {
    return std::to_string(unix_seconds);
  }
  return text;
}

}  // namespace

int RunGc(int argc, char** argv) {
  std::string config_path;
  bool config_given = false;
  bool dry_run = false;
  bool all = false;
  std::vector<std::pair<std::string, std::string>> overrides;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (arg == "--dry-run") {
      dry_run = true;
      continue;
    }
    if (arg == "--all") {
      all = true;
      continue;
    }
    std::string name, value;
    Status s = ReadFlag(argc, argv, &i, &name, &value);
    if (!s.ok()) {
      std::cerr << "devserverctl gc: " << s.message() << "\n" << kUsage;
      return 2;
    }
    if (name == "config") {
      config_path = value;
      config_given = true;
    } else {
      overrides.emplace_back(name, value);
    }
  }
  if (!config_given && access(kInstalledConfig, R_OK) == 0) config_path = kInstalledConfig;

  Config config = DefaultConfig();
  Status s = config_path.empty() ? Status::Ok() : LoadConfigFile(config_path, &config);
  for (const auto& [flag, value] : overrides) {
    if (s.ok()) s = ApplyConfigOverride(flag, value, &config);
  }
  if (s.ok()) s = ValidateConfig(config);
  if (!s.ok()) {
    std::cerr << "devserverctl gc: " << s.message() << "\n";
    return 2;
  }

  const std::string db_path = StateDatabasePath(config);
  if (access(db_path.c_str(), F_OK) != 0) {
    return Fail("no state database at " + db_path +
                " (give the service's --config, or --state-dir)");
  }
  std::unique_ptr<state::StateDb> db;
  s = state::StateDb::Open(db_path, state::StateOptions{}, &db);
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
    std::cout << verb << build.build << "  " << Mib(build.bytes) << "  last used "
              << When(build.last_used_at) << "\n";
  }
  if (!s.ok()) return Fail(s.message());
  const int64_t total = static_cast<int64_t>(report.disk.total);
  std::cout << (dry_run ? "would free " : "freed ") << Mib(report.bytes_freed) << " in "
            << report.evicted.size() << " builds; the cache held " << Mib(report.staged_bytes)
            << ", the disk had "
            << (total > 0 ? static_cast<int64_t>(report.disk.available) * 100 / total : 0)
            << "% free\n";
  if (report.ShortOfBudget()) {
    std::cerr << "devserverctl gc: still " << Mib(report.bytes_to_free - report.bytes_freed)
              << " over budget: every build left is staging, queued or used within the last "
              << config.cache_grace_s << " s\n";
  }
  return 0;
}

}  // namespace devserver
