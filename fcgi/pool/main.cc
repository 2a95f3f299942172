// devserver-fcgi: the FastCGI worker pool nginx passes the API to.
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>

#include "fcgi/base/flags.h"
#include "fcgi/base/fs.h"
#include "fcgi/base/log.h"
#include "fcgi/pool/crash_report.h"
#include "fcgi/pool/master.h"
#include "generated/version.h"

namespace {

constexpr const char* kUsage =
    "usage: devserver-fcgi [--config FILE] [--<key>=VALUE ...] [--print-config | --check-config]\n"
    "\n"
    "Runs the devserver FastCGI worker pool. Every configuration key can be given as a flag\n"
    "(--static-root=/srv/static overrides [paths] static_root); flags win over the file.\n"
    "  --config FILE    INI configuration file (default: built-in defaults only)\n"
    "  --print-config   print the effective configuration, documented, and exit\n"
    "  --check-config   validate the configuration and exit\n"
    "  --version        print the version and exit\n";

int Fail(const std::string& message) {
  std::cerr << "devserver-fcgi: " << message << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace devserver;
  InstallCrashReport();
  MasterOptions options;
  bool print_config = false;
  bool check_config = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (arg == "--version") {
      std::cout << "devserver-fcgi " << kDevserverVersion << "\n";
      return 0;
    }
    if (arg == "--print-config") {
      print_config = true;
      continue;
    }
    if (arg == "--check-config") {
      check_config = true;
      continue;
    }
    std::string name, value;
    Status flag = ReadFlag(argc, argv, &i, &name, &value);
    if (!flag.ok()) return Fail(flag.message() + "\n" + kUsage);
    if (name == "config") {
      options.config_path = value;
    } else {
      options.overrides.emplace_back(name, value);
    }
  }

  Config config;
  Status s = LoadMasterConfig(options, &config);
  if (!s.ok()) return Fail(s.message());
  if (print_config) {
    std::cout << RenderConfig(config);
    return 0;
  }
  if (check_config) {
    std::cout << "configuration OK\n";
    return 0;
  }
  SetMinLogLevel(ParseLogLevel(config.log_level));
  for (const std::string& dir : {config.state_dir, config.static_root}) {
    s = MakeDirectories(dir, 0755);
    if (!s.ok()) return Fail(s.message());
  }
  return RunMaster(options, config);
}
