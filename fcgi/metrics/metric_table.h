// The pool's metrics: one table of cells in a shared memory mapping, so that every process
// adds to the same numbers and a scrape reads them all at once.
//
// The master maps the table before it forks a worker; workers inherit the mapping, so a
// count outlives the worker that made it (a restart or a reload replaces workers, never the
// table), and /metrics, answered by any worker, reads the sum of all of them without asking
// another process anything. A cell is found by its series key ("family{label=\"v\",...}")
// with open addressing; it is claimed once and then only ever added to with atomic
// instructions, so no process can block another, and a process killed mid-update leaves at
// worst its last increment unmade.
//
// Gauges of one process (requests in flight, waiters) are cells owned by its pid: when the
// process dies its share must go, so the master releases its cells (ReleaseOwner) when it
// reaps it, and a later claim may take them again.
//
// A set gauge is a measurement rather than a count (the host's CPU share, sampled by the
// master): shared (owner 0), written whole by one process with a single atomic store of a
// double's bits, so a reader sees the old value or the new one, never a torn mix; adding
// shares would not work for a value that is replaced.
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "fcgi/base/status.h"

namespace devserver::metrics {

enum class CellKind : uint32_t { kCounter = 1, kGauge = 2, kHistogram = 3, kSetGauge = 4 };

// Upper bounds (seconds) of every histogram's buckets: from a cached /is_staged (under a
// millisecond) to a long poll or a multi-GiB staging (minutes).
inline constexpr std::array<double, 15> kBucketBounds = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60, 300};
// A histogram cell's values: one count per bucket (not cumulative), the count above the last
// bound, then the sum of the observations in microseconds.
inline constexpr size_t kOverflowSlot = kBucketBounds.size();
inline constexpr size_t kSumSlot = kOverflowSlot + 1;
inline constexpr size_t kValueSlots = kSumSlot + 1;
inline constexpr size_t kMaxKeyBytes = 160;

struct Cell {
  std::atomic<uint32_t> state;  // CellState
  CellKind kind;
  int32_t owner;  // pid of the process whose gauge this is; 0: shared by all
  uint32_t key_size;
  char key[kMaxKeyBytes];
  // Counter: [0]. Gauge: [0] as a two's complement int64. Set gauge: [0] as a double's bits.
  // Histogram: see kSumSlot.
  std::array<std::atomic<uint64_t>, kValueSlots> values;

  std::string_view Key() const { return {key, key_size}; }
};

// A read of one cell for rendering.
struct CellSnapshot {
  std::string_view key;
  CellKind kind;
  std::array<uint64_t, kValueSlots> values;
};

// Slot `bits` of a cell of `kind` as the number it stands for.
double SlotValue(CellKind kind, uint64_t bits);

class MetricTable {
 public:
  // A table of `capacity` cells in an anonymous shared mapping: shared with every process
  // forked after this call.
  static Status Create(size_t capacity, std::unique_ptr<MetricTable>* table);
  ~MetricTable();
  MetricTable(const MetricTable&) = delete;
  MetricTable& operator=(const MetricTable&) = delete;

  // The cell of `key` owned by `owner` (0: shared), claimed on first use. nullptr when the
  // key is longer than kMaxKeyBytes or the table is full; the miss is counted (dropped()).
  Cell* Find(std::string_view key, CellKind kind, pid_t owner);
  // Zeroes and frees the cells `owner` held: its gauges end with it.
  void ReleaseOwner(pid_t owner);
  // Every live cell, in table order (a key may appear more than once: one per owner).
  void ForEach(const std::function<void(const CellSnapshot&)>& visit) const;
  // The value /metrics shows for the counter or gauge `key`: slot 0 summed over its live
  // cells (one per owner); 0 when it has none. Not for histograms.
  double Sum(std::string_view key) const;

  uint64_t dropped() const;
  // When the service started (wall seconds): set by the master, read by /metrics.
  void set_start_time(double seconds);
  double start_time() const;
  size_t capacity() const { return capacity_; }

 private:
  struct Header;
  MetricTable(void* mapping, size_t bytes, size_t capacity);
  Cell* CellAt(size_t index) const;
  Cell* Claim(Cell* cell, uint32_t from, std::string_view key, CellKind kind, pid_t owner);

  void* mapping_;
  size_t bytes_;
  size_t capacity_;
  Header* header_;
};

}  // namespace devserver::metrics
