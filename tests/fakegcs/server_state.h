// Everything the request handlers share for the lifetime of the server.
#pragma once

#include <string>

#include "tests/fakegcs/counters.h"
#include "tests/fakegcs/faults.h"
#include "tests/fakegcs/object_store.h"
#include "tests/fakegcs/stop_signal.h"

namespace devserver::fakegcs {

struct ServerState {
  explicit ServerState(std::string root) : store(std::move(root)) {}

  ObjectStore store;
  FaultBook faults;
  Counters counters;
  StopSignal stop;
  bool verbose = false;
};

}  // namespace devserver::fakegcs
