#include "fcgi/metrics/metrics.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "fcgi/base/process_id.h"

namespace devserver::metrics {
namespace {

std::atomic<MetricTable*> g_table{nullptr};

void AppendEscaped(std::string_view value, std::string* out) {
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out->push_back('\\');
      out->push_back(c);
    } else if (c == '\n') {
      out->append("\\n");
    } else {
      out->push_back(c);
    }
  }
}

size_t BucketOf(double seconds) {
  const auto* it = std::lower_bound(kBucketBounds.begin(), kBucketBounds.end(), seconds);
  return static_cast<size_t>(it - kBucketBounds.begin());  // kOverflowSlot past the last
}

}  // namespace

void Install(MetricTable* table) { g_table.store(table, std::memory_order_release); }

MetricTable* Installed() { return g_table.load(std::memory_order_acquire); }

std::string Series(std::string_view family, Labels labels) {
  std::string key(family);
  if (labels.size() == 0) return key;
  key.push_back('{');
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) key.push_back(',');
    first = false;
    key.append(name);
    key.append("=\"");
    AppendEscaped(value, &key);
    key.push_back('"');
  }
  key.push_back('}');
  return key;
}

Cell* CounterCell(const std::string& series) {
  MetricTable* table = Installed();
  return table != nullptr ? table->Find(series, CellKind::kCounter, 0) : nullptr;
}

Cell* HistogramCell(const std::string& series) {
  MetricTable* table = Installed();
  return table != nullptr ? table->Find(series, CellKind::kHistogram, 0) : nullptr;
}

void Add(Cell* counter, uint64_t n) {
  if (counter != nullptr) counter->values[0].fetch_add(n, std::memory_order_relaxed);
}

void Observe(Cell* histogram, double seconds) {
  if (histogram == nullptr) return;
  seconds = std::max(seconds, 0.0);
  histogram->values[BucketOf(seconds)].fetch_add(1, std::memory_order_relaxed);
  histogram->values[kSumSlot].fetch_add(static_cast<uint64_t>(std::llround(seconds * 1e6)),
                                        std::memory_order_relaxed);
}

void Add(const std::string& series, uint64_t n) { Add(CounterCell(series), n); }

void Observe(const std::string& series, double seconds) { Observe(HistogramCell(series), seconds); }

void GaugeAdd(const std::string& series, int64_t delta) {
  MetricTable* table = Installed();
  if (table == nullptr) return;
  if (Cell* cell = table->Find(series, CellKind::kGauge, CurrentPid())) {
    cell->values[0].fetch_add(static_cast<uint64_t>(delta), std::memory_order_relaxed);
  }
}

void GaugeSet(const std::string& series, double value) {
  MetricTable* table = Installed();
  if (table == nullptr) return;
  if (Cell* cell = table->Find(series, CellKind::kSetGauge, 0)) {
    cell->values[0].store(std::bit_cast<uint64_t>(value), std::memory_order_relaxed);
  }
}

double GaugeSum(std::string_view series) {
  const MetricTable* table = Installed();
  return table != nullptr ? table->Sum(series) : 0;
}

void Counter::Add(uint64_t n) {
  MetricTable* table = Installed();
  if (table == nullptr) return;
  // The cell is stored before the table it belongs to: a matching table means a cell of it.
  Cell* cell = table_.load(std::memory_order_acquire) == table
                   ? cell_.load(std::memory_order_acquire)
                   : nullptr;
  if (cell == nullptr) {
    cell = table->Find(series_, CellKind::kCounter, 0);
    if (cell == nullptr) return;
    cell_.store(cell, std::memory_order_release);
    table_.store(table, std::memory_order_release);
  }
  cell->values[0].fetch_add(n, std::memory_order_relaxed);
}

void Gauge::Add(int64_t delta) {
  MetricTable* table = Installed();
  if (table == nullptr) return;
  // A forked child has a pid of its own, so a share of its own: look the cell up again.
  const pid_t pid = CurrentPid();
  Cell* cell =
      table_.load(std::memory_order_acquire) == table && pid_.load(std::memory_order_acquire) == pid
          ? cell_.load(std::memory_order_acquire)
          : nullptr;
  if (cell == nullptr) {
    cell = table->Find(series_, CellKind::kGauge, pid);
    if (cell == nullptr) return;
    cell_.store(cell, std::memory_order_release);
    pid_.store(pid, std::memory_order_release);
    table_.store(table, std::memory_order_release);
  }
  cell->values[0].fetch_add(static_cast<uint64_t>(delta), std::memory_order_relaxed);
}

}  // namespace devserver::metrics
