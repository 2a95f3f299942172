// devserverctl: the operator's command: run the service, make a sample build, show its
// status, evict.
#include <iostream>
#include <string>

#include "fcgi/ctl/gc.h"
#include "fcgi/ctl/nginx_site.h"
#include "fcgi/ctl/sample_build.h"
#include "fcgi/ctl/serve.h"
#include "fcgi/ctl/status.h"
#include "generated/version.h"

namespace {

constexpr const char* kUsage =
    "usage: devserverctl <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve      run nginx and the worker pool from one state directory (see serve --help)\n"
    "  sample-build  write a synthetic build for serve --archive-dir (see sample-build --help)\n"
    "  status     what the service stages, holds and may evict (see status --help)\n"
    "  gc         evict least recently used builds now (see gc --help)\n"
    "  nginx-site write the nginx site for the system's nginx, cluster mode included (see\n"
    "             nginx-site --help)\n"
    "  version    print the version\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return 2;
  }
  std::string command = argv[1];
  if (command == "serve") return devserver::RunServe(argc - 1, argv + 1);
  if (command == "sample-build") return devserver::RunSampleBuild(argc - 1, argv + 1);
  if (command == "gc") return devserver::RunGc(argc - 1, argv + 1);
  if (command == "status") return devserver::RunStatus(argc - 1, argv + 1);
  if (command == "nginx-site") return devserver::RunNginxSite(argc - 1, argv + 1);
  if (command == "version" || command == "--version") {
    std::cout << "devserverctl " << devserver::kDevserverVersion << "\n";
    return 0;
  }
  if (command == "help" || command == "--help" || command == "-h") {
    std::cout << kUsage;
    return 0;
  }
  std::cerr << "devserverctl: unknown command '" << command << "'\n" << kUsage;
  return 2;
}
