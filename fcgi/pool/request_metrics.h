// The counts every answered API request adds to: devserver_http_requests_total by endpoint
// and status, the latency histogram by endpoint, and the requests in flight.
#pragma once

#include <chrono>
#include <map>
#include <utility>

#include "fcgi/http/router.h"
#include "fcgi/metrics/metrics.h"

namespace devserver {

// One per request thread: it remembers the cells of the (endpoint, status) pairs it has
// counted, so that a request costs two atomic additions, not two series keys built and
// looked up.
class RequestMetrics {
 public:
  // `endpoint` is the route that served the request; nullptr for a path no route matches.
  void Count(const Endpoint* endpoint, int status, std::chrono::steady_clock::duration elapsed);

  // Requests being answered by this process now.
  static metrics::Gauge& InFlight();

 private:
  struct Cells {
    metrics::Cell* requests = nullptr;
    metrics::Cell* duration = nullptr;
  };
  std::map<std::pair<const Endpoint*, int>, Cells> cells_;
  metrics::MetricTable* table_ = nullptr;  // the table the cells belong to
};

}  // namespace devserver
