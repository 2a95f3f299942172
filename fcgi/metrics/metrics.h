// What the rest of the service calls to count: series named by family and labels, added to
// the process's installed MetricTable. Without a table (a unit test, devserverctl) every
// call does nothing, so code counts unconditionally.
//
// Families and their labels are listed in exposition.cc, with their help text; a family
// counted here and missing there is rendered untyped (and the catalogue test fails).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "fcgi/metrics/metric_table.h"

namespace devserver::metrics {

// Makes `table` the one every call below adds to; nullptr removes it. The pool's master
// installs one before it forks; workers inherit it. The table must outlive every caller.
void Install(MetricTable* table);
MetricTable* Installed();

using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;
// "family{a=\"1\",b=\"x\"}", label values escaped as the exposition format wants.
std::string Series(std::string_view family, Labels labels = {});

// A counter goes up by `n`.
void Add(const std::string& series, uint64_t n = 1);
// One observation in a histogram, in seconds.
void Observe(const std::string& series, double seconds);
// This process's share of a gauge: released (zeroed) when the process dies.
void GaugeAdd(const std::string& series, int64_t delta);
// A gauge one process measures for the whole service (the master's samples of the host):
// replaces its value for every reader; shared, so it outlives the process that set it.
void GaugeSet(const std::string& series, double value);
// The value of a gauge (or counter) now, every process's share summed, as /metrics shows it;
// 0 without a table or before the series' first write.
double GaugeSum(std::string_view series);

// Series counted in one place and read in another (/check_health reads them).
inline constexpr std::string_view kRequestsInFlight = "devserver_http_requests_in_flight";
inline constexpr std::string_view kHostCpuPercent = "devserver_host_cpu_percent";
inline constexpr std::string_view kHostNetworkBytesPerSecond =
    "devserver_host_network_bytes_per_second";
inline constexpr std::string_view kHostDiskBytesPerSecond = "devserver_host_disk_bytes_per_second";

// A counter whose series never changes, looked up once per table rather than per call: for
// hot paths (bytes read from upstream).
class Counter {
 public:
  explicit Counter(std::string series) : series_(std::move(series)) {}
  void Add(uint64_t n = 1);

 private:
  std::string series_;
  std::atomic<MetricTable*> table_{nullptr};
  std::atomic<Cell*> cell_{nullptr};
};

// This process's share of a gauge whose series never changes, its cell looked up once per
// process and table.
class Gauge {
 public:
  explicit Gauge(std::string series) : series_(std::move(series)) {}
  void Add(int64_t delta);

 private:
  std::string series_;
  std::atomic<MetricTable*> table_{nullptr};
  std::atomic<pid_t> pid_{0};
  std::atomic<Cell*> cell_{nullptr};
};

// Adds `delta` to a gauge for as long as it lives: requests in flight, waiters blocked.
class GaugeScope {
 public:
  explicit GaugeScope(Gauge* gauge, int64_t delta = 1) : gauge_(gauge), delta_(delta) {
    gauge_->Add(delta_);
  }
  ~GaugeScope() { End(); }
  GaugeScope(const GaugeScope&) = delete;
  GaugeScope& operator=(const GaugeScope&) = delete;
  // Takes the delta back before the scope ends (once).
  void End() {
    if (gauge_ == nullptr) return;
    gauge_->Add(-delta_);
    gauge_ = nullptr;
  }

 private:
  Gauge* gauge_;
  int64_t delta_;
};

// For a caller that keeps cells itself (the worker's per-thread request counts, keyed by
// endpoint and status so that no series key is built per request). nullptr without a table
// or when the table is full; the Add/Observe below accept it.
Cell* CounterCell(const std::string& series);
Cell* HistogramCell(const std::string& series);
void Add(Cell* counter, uint64_t n);
void Observe(Cell* histogram, double seconds);

}  // namespace devserver::metrics
