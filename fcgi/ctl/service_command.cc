#include "fcgi/ctl/service_command.h"

#include <unistd.h>

#include <ctime>
#include <utility>
#include <vector>

#include "fcgi/base/flags.h"
#include "fcgi/staging/staging_service.h"

namespace devserver {
namespace {

constexpr const char* kInstalledConfig = "/etc/devserver/devserver.ini";

}  // namespace

Status ParseServiceArgs(int argc, char** argv, const std::set<std::string>& switches,
                        const std::set<std::string>& options, ServiceArgs* args) {
  std::string config_path;
  bool config_given = false;
  std::vector<std::pair<std::string, std::string>> overrides;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      args->help = true;
      return Status::Ok();
    }
    if (switches.count(arg) > 0) {
      args->switches.insert(arg);
      continue;
    }
    std::string name, value;
    Status s = ReadFlag(argc, argv, &i, &name, &value);
    if (!s.ok()) {
      args->bad_flag = true;
      return s;
    }
    if (name == "config") {
      config_path = value;
      config_given = true;
    } else if (options.count(name) > 0) {
      args->options[name] = value;
    } else {
      overrides.emplace_back(name, value);
    }
  }
  if (!config_given && access(kInstalledConfig, R_OK) == 0) config_path = kInstalledConfig;
  args->config = DefaultConfig();
  Status s = config_path.empty() ? Status::Ok() : LoadConfigFile(config_path, &args->config);
  for (const auto& [flag, value] : overrides) {
    if (s.ok()) s = ApplyConfigOverride(flag, value, &args->config);
  }
  if (s.ok()) s = ValidateConfig(args->config);
  return s;
}

Status OpenServiceState(const Config& config, std::unique_ptr<state::StateDb>* db) {
  const std::string path = StateDatabasePath(config);
  if (access(path.c_str(), F_OK) != 0) {
    return Status::Failed("no state database at " + path +
                          " (give the service's --config, or --state-dir)");
  }
  return state::StateDb::Open(path, state::StateOptions{}, db);
}

std::string Size(int64_t bytes) {
  if (bytes < (int64_t{10} << 30)) return std::to_string((bytes + (1 << 19)) >> 20) + " MiB";
  const int64_t tenths = (bytes * 10 + (int64_t{1} << 29)) >> 30;
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " GiB";
}

int64_t PercentFree(const DiskSpace& disk) {
  return disk.total > 0 ? static_cast<int64_t>(disk.available * 100 / disk.total) : 0;
}

std::string UtcTime(int64_t unix_seconds) {
  const time_t t = unix_seconds;
  struct tm tm {};
  char text[32];
  if (gmtime_r(&t, &tm) == nullptr ||
      strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0) {
    return std::to_string(unix_seconds);
  }
  return text;
}

}  // namespace devserver
