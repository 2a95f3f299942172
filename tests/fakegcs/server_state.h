// Everything the request handlers share for the lifetime of the server.
#pragma once

#include <atomic>
#include <cstdint>
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
  // Bytes/s of every media response stream (0: as fast as it goes), as a real network caps
  // each connection; a pace_bps fault on an object may slow one further. --pace-bps, or
  // POST /_fake/pace?bps=B.
  std::atomic<uint64_t> pace_bps{0};
};

}  // namespace devserver::fakegcs
