#include "fcgi/ctl/status.h"

#include <iostream>
#include <string>
#include <vector>

#include "fcgi/base/env.h"
#include "fcgi/ctl/service_command.h"
#include "fcgi/state/state_db.h"

namespace devserver {
namespace {

constexpr const char* kUsage =
    "usage: devserverctl status [--config FILE] [--builds N] [--<config-key>=VALUE ...]\n"
    "\n"
    "Prints what the service is staging, what waits and what failed, the cache against its\n"
    "[cache] budget with what eviction may take now, and the N most recently used builds\n"
    "(default 10) with the state of each artifact. Reads the state file only; the SQL views\n"
    "in README \"Querying state\" give the details.\n"
    "  --config FILE  the service's configuration (default /etc/devserver/devserver.ini if it\n"
    "                 exists); --state-dir=... etc. override its keys\n";

int Fail(const std::string& message) {
  std::cerr << "devserverctl status: " << message << "\n";
  return 1;
}

std::string Budget(const Config& config) {
  std::string text = config.cache_min_free_percent > 0
                         ? "keep " + std::to_string(config.cache_min_free_percent) + " % free"
                         : "no free-space floor";
  text += config.cache_max_bytes > 0 ? ", at most " + Size(config.cache_max_bytes) + " staged"
                                     : ", no size limit";
  return text + "; builds used within " + std::to_string(config.cache_grace_s) + " s stay";
}

std::string ArtifactLine(const state::ArtifactStatus& a) {
  std::string line = a.artifact + " " + state::ArtifactStateName(a.state);
  if (a.state == state::ArtifactState::kStaging && a.bytes_total.value_or(0) > 0) {
    line += " " + std::to_string(a.bytes_done * 100 / *a.bytes_total) + "%";
  }
  return line;
}

}  // namespace

int RunStatus(int argc, char** argv) {
  ServiceArgs args;
  Status s = ParseServiceArgs(argc, argv, {}, {"builds"}, &args);
  if (!s.ok()) {
    std::cerr << "devserverctl status: " << s.message() << "\n" << (args.bad_flag ? kUsage : "");
    return 2;
  }
  if (args.help) {
    std::cout << kUsage;
    return 0;
  }
  int builds = 10;
  if (auto given = args.options.find("builds"); given != args.options.end()) {
    size_t used = 0;
    try {
      builds = std::stoi(given->second, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != given->second.size() || builds < 0 || builds > 10000) {
      std::cerr << "devserverctl status: --builds: '" << given->second << "' is not 0..10000\n";
      return 2;
    }
  }
  const Config& config = args.config;
  std::unique_ptr<state::StateDb> db;
  s = OpenServiceState(config, &db);
  state::StateSummary summary;
  if (s.ok()) s = db->Summary(&summary);
  DiskSpace disk;
  if (s.ok()) s = Env::Default()->Disk(config.static_root, &disk);
  std::vector<state::EvictableBuild> evictable;
  if (s.ok())
    s = db->EvictableBuilds(Env::Default()->WallSeconds() - config.cache_grace_s, &evictable);
  std::vector<state::BuildOverview> recent;
  if (s.ok()) s = db->RecentBuilds(builds, &recent);
  if (!s.ok()) return Fail(s.message());

  int64_t evictable_bytes = 0;
  for (const state::EvictableBuild& b : evictable) evictable_bytes += b.bytes;
  std::cout << "state      " << config.state_dir << "/state.db, static root " << config.static_root
            << "\n"
            << "staging    " << summary.staging << " artifacts, " << Size(summary.in_flight_bytes)
            << " downloaded so far\n"
            << "queued     " << summary.queued << "\n"
            << "failed     " << summary.failed << "\n"
            << "cache      " << Size(summary.staged_bytes) << " staged; disk " << PercentFree(disk)
            << " % free of " << Size(static_cast<int64_t>(disk.total)) << "\n"
            << "budget     " << Budget(config) << "\n"
            << "evictable  " << evictable.size() << " builds, " << Size(evictable_bytes)
            << " (devserverctl gc --dry-run lists them)\n";
  if (!recent.empty()) std::cout << "\nmost recently used builds:\n";
  for (const state::BuildOverview& b : recent) {
    std::cout << "  " << b.build << "  used " << UtcTime(b.last_used_at) << "\n    ";
    for (size_t i = 0; i < b.artifacts.size(); ++i) {
      std::cout << (i == 0 ? "" : ", ") << ArtifactLine(b.artifacts[i]);
    }
    std::cout << "\n";
  }
  return 0;
}

}  // namespace devserver
