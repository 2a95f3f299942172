// Streams an object's bytes onto the client socket, applying the body faults of a FaultPlan.
#pragma once

#include <Poco/Net/StreamSocket.h>

#include <cstdint>
#include <functional>

#include "tests/fakegcs/faults.h"
#include "tests/fakegcs/stop_signal.h"

namespace devserver::fakegcs {

enum class BodyEnd {
  kComplete,   // Every byte of the range was sent.
  kTruncated,  // truncate_at hit: the caller must drop the connection.
  kAbandoned,  // Stalled until the client left or the server stopped.
};

// Sends bytes [begin, end) of `fd` after the response headers. `on_sent` is told about every
// chunk so byte counters stay right even when the client disconnects midway (which throws).
BodyEnd SendBody(Poco::Net::StreamSocket& socket, int fd, uint64_t begin, uint64_t end,
                 const FaultPlan& plan, const StopSignal& stop,
                 const std::function<void(uint64_t)>& on_sent);

}  // namespace devserver::fakegcs
