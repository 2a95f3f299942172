#include "fcgi/pool/request_metrics.h"

#include <string>
#include <string_view>

namespace devserver {

void RequestMetrics::Count(const Endpoint* endpoint, int status,
                           std::chrono::steady_clock::duration elapsed) {
  metrics::MetricTable* table = metrics::Installed();
  if (table == nullptr) return;
  if (table != table_) {
    cells_.clear();
    table_ = table;
  }
  auto [it, added] = cells_.try_emplace({endpoint, status});
  if (added) {
    // By route, never by the path a client chose: the number of series stays bounded.
    const std::string_view route = endpoint != nullptr ? std::string_view(endpoint->path) : "other";
    const std::string code = std::to_string(status);
    it->second.requests = metrics::CounterCell(
        metrics::Series("devserver_http_requests_total", {{"endpoint", route}, {"code", code}}));
    it->second.duration = metrics::HistogramCell(
        metrics::Series("devserver_http_request_duration_seconds", {{"endpoint", route}}));
  }
  metrics::Add(it->second.requests, 1);
  metrics::Observe(it->second.duration, std::chrono::duration<double>(elapsed).count());
}

metrics::Gauge& RequestMetrics::InFlight() {
  static metrics::Gauge in_flight{std::string(metrics::kRequestsInFlight)};
  return in_flight;
}

}  // namespace devserver
