// What devserverctl's commands about a service's state (gc, status) share: finding its
// configuration, opening its state, and writing sizes and times alike.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "fcgi/base/env.h"
#include "fcgi/base/status.h"
#include "fcgi/config/config.h"
#include "fcgi/state/state_db.h"

namespace devserver {

struct ServiceArgs {
  Config config;
  std::set<std::string> switches;              // the command's own value-less flags given ("--all")
  std::map<std::string, std::string> options;  // the command's own --name VALUE flags given
  bool help = false;                           // --help or -h
  bool bad_flag = false;  // the error is in the command line's form: show the usage
};

// Parses argv[1..]: `--config FILE` (default /etc/devserver/devserver.ini when it exists),
// any of `switches` ("--all"), the command's own `options` ("builds", given as --builds N or
// --builds=N), and `--<key>=VALUE` overrides of configuration keys, which win over the file.
// The configuration is validated.
Status ParseServiceArgs(int argc, char** argv, const std::set<std::string>& switches,
                        const std::set<std::string>& options, ServiceArgs* args);

// Opens <state_dir>/state.db of a service that has run; an error naming the path and the
// flags to fix it when there is none (never creates one).
Status OpenServiceState(const Config& config, std::unique_ptr<state::StateDb>* db);

// "12 MiB", or "34.5 GiB" from 10 GiB on (rounded).
std::string Size(int64_t bytes);
// "2026-12-06 01:21:36 UTC".
std::string UtcTime(int64_t unix_seconds);
// Whole percent of the file system that is free (0 for an unknown size).
int64_t PercentFree(const DiskSpace& disk);

}  // namespace devserver
