#include "fcgi/metrics/metric_table.h"

#include <sys/mman.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <new>
#include <thread>

namespace devserver::metrics {
namespace {

// Cells cross processes: their atomics must work on memory, not on a lock in one process.
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::atomic<uint32_t>::is_always_lock_free);

enum CellState : uint32_t {
  kEmpty = 0,     // never used: a probe for a key ends here
  kClaiming = 1,  // a process is writing its key
  kReady = 2,
  kReleased = 3,  // its owner died: skipped by reads, probed past, free to claim again
};

uint64_t HashKey(std::string_view key, pid_t owner) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (char c : key) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  h ^= static_cast<uint64_t>(static_cast<uint32_t>(owner)) * 0x9e3779b97f4a7c15ULL;
  return h ^ (h >> 29);
}

bool Matches(const Cell& cell, std::string_view key, CellKind kind, pid_t owner) {
  return cell.owner == owner && cell.kind == kind && cell.Key() == key;
}

}  // namespace

double SlotValue(CellKind kind, uint64_t bits) {
  switch (kind) {
    case CellKind::kGauge:  // a share may be negative
      return static_cast<double>(static_cast<int64_t>(bits));
    case CellKind::kSetGauge:
      return std::bit_cast<double>(bits);
    case CellKind::kCounter:
    case CellKind::kHistogram:
      break;
  }
  return static_cast<double>(bits);
}

struct MetricTable::Header {
  std::atomic<uint64_t> dropped;
  std::atomic<uint64_t> start_time_bits;  // a double's bits
};

Status MetricTable::Create(size_t capacity, std::unique_ptr<MetricTable>* table) {
  const size_t header_bytes = (sizeof(Header) + alignof(Cell) - 1) / alignof(Cell) * alignof(Cell);
  const size_t bytes = header_bytes + capacity * sizeof(Cell);
  void* mapping = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mapping == MAP_FAILED) return Status::IOError("mmap of the metrics table", errno);
  table->reset(new MetricTable(mapping, bytes, capacity));
  return Status::Ok();
}

MetricTable::MetricTable(void* mapping, size_t bytes, size_t capacity)
    : mapping_(mapping), bytes_(bytes), capacity_(capacity) {
  // The mapping is zeroed; constructing its objects in place makes that the atomics' state.
  header_ = new (mapping) Header{};
  auto* first = static_cast<char*>(mapping) + (bytes - capacity * sizeof(Cell));
  for (size_t i = 0; i < capacity; ++i) new (first + i * sizeof(Cell)) Cell{};
}

MetricTable::~MetricTable() { munmap(mapping_, bytes_); }

Cell* MetricTable::CellAt(size_t index) const {
  auto* first = static_cast<char*>(mapping_) + (bytes_ - capacity_ * sizeof(Cell));
  return std::launder(reinterpret_cast<Cell*>(first + index * sizeof(Cell)));
}

Cell* MetricTable::Claim(Cell* cell, uint32_t from, std::string_view key, CellKind kind,
                         pid_t owner) {
  if (!cell->state.compare_exchange_strong(from, kClaiming, std::memory_order_acquire)) {
    return nullptr;
  }
  for (auto& v : cell->values) v.store(0, std::memory_order_relaxed);
  cell->kind = kind;
  cell->owner = owner;
  std::memcpy(cell->key, key.data(), key.size());
  cell->key_size = static_cast<uint32_t>(key.size());
  cell->state.store(kReady, std::memory_order_release);
  return cell;
}

Cell* MetricTable::Find(std::string_view key, CellKind kind, pid_t owner) {
  if (key.size() > kMaxKeyBytes || capacity_ == 0) {
    header_->dropped.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  const size_t start = HashKey(key, owner) % capacity_;
  for (;;) {
    // The key may sit past a released cell: look on to the first empty one before taking
    // a released cell for it, so that a key has one cell per owner.
    Cell* released = nullptr;
    Cell* empty = nullptr;
    for (size_t i = 0; i < capacity_ && empty == nullptr; ++i) {
      Cell* cell = CellAt((start + i) % capacity_);
      uint32_t state = cell->state.load(std::memory_order_acquire);
      while (state == kClaiming) {  // another process is writing a key here: a moment
        std::this_thread::yield();
        state = cell->state.load(std::memory_order_acquire);
      }
      if (state == kReady && Matches(*cell, key, kind, owner)) return cell;
      if (state == kReleased && released == nullptr) released = cell;
      if (state == kEmpty) empty = cell;
    }
    Cell* target = released != nullptr ? released : empty;
    if (target == nullptr) {
      header_->dropped.fetch_add(1, std::memory_order_relaxed);
      return nullptr;
    }
    if (Cell* claimed = Claim(target, target == released ? kReleased : kEmpty, key, kind, owner)) {
      return claimed;
    }
    // Someone claimed it first, maybe for this very key: probe again.
  }
}

void MetricTable::ReleaseOwner(pid_t owner) {
  if (owner == 0) return;
  for (size_t i = 0; i < capacity_; ++i) {
    Cell* cell = CellAt(i);
    if (cell->state.load(std::memory_order_acquire) != kReady || cell->owner != owner) continue;
    for (auto& v : cell->values) v.store(0, std::memory_order_relaxed);
    cell->state.store(kReleased, std::memory_order_release);
  }
}

void MetricTable::ForEach(const std::function<void(const CellSnapshot&)>& visit) const {
  for (size_t i = 0; i < capacity_; ++i) {
    const Cell* cell = CellAt(i);
    if (cell->state.load(std::memory_order_acquire) != kReady) continue;
    CellSnapshot snapshot{cell->Key(), cell->kind, {}};
    for (size_t v = 0; v < kValueSlots; ++v) {
      snapshot.values[v] = cell->values[v].load(std::memory_order_relaxed);
    }
    visit(snapshot);
  }
}

double MetricTable::Sum(std::string_view key) const {
  double sum = 0;
  for (size_t i = 0; i < capacity_; ++i) {
    const Cell* cell = CellAt(i);
    if (cell->state.load(std::memory_order_acquire) != kReady || cell->Key() != key) continue;
    sum += SlotValue(cell->kind, cell->values[0].load(std::memory_order_relaxed));
  }
  return sum;
}

uint64_t MetricTable::dropped() const { return header_->dropped.load(std::memory_order_relaxed); }

void MetricTable::set_start_time(double seconds) {
  header_->start_time_bits.store(std::bit_cast<uint64_t>(seconds), std::memory_order_relaxed);
}

double MetricTable::start_time() const {
  return std::bit_cast<double>(header_->start_time_bits.load(std::memory_order_relaxed));
}

}  // namespace devserver::metrics
