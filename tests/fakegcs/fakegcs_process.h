// Runs a fakegcs server as a child process for a test: starts it on a free port over a scratch
// root, talks to its control API, and stops it. Reused by the devserver integration tests.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace devserver::fakegcs {

// One fault to arm; unset fields are not sent. See tests/fakegcs/README.md for semantics.
// Built with chained setters, e.g. Fault().Status(503).Count(2).
struct Fault {
  std::optional<int> status;
  std::optional<int64_t> delay_ms;
  std::optional<uint64_t> stall_at;
  std::optional<uint64_t> truncate_at;
  std::optional<uint64_t> corrupt_at;
  std::optional<uint64_t> pace_bps;
  std::optional<int64_t> count;
  std::optional<uint64_t> range_start;  // only requests whose Range starts here (one slice)
  bool all_scopes = false;  // scope=all: status/delay also hit metadata and list requests.

  Fault& Status(int v) { return Set(status, v); }
  Fault& DelayMs(int64_t v) { return Set(delay_ms, v); }
  Fault& StallAt(uint64_t v) { return Set(stall_at, v); }
  Fault& TruncateAt(uint64_t v) { return Set(truncate_at, v); }
  Fault& CorruptAt(uint64_t v) { return Set(corrupt_at, v); }
  Fault& PaceBps(uint64_t v) { return Set(pace_bps, v); }
  Fault& Count(int64_t v) { return Set(count, v); }
  Fault& RangeStart(uint64_t v) { return Set(range_start, v); }
  Fault& AllScopes() {
    all_scopes = true;
    return *this;
  }

  std::string ToQuery() const;

 private:
  template <typename T, typename V>
  Fault& Set(std::optional<T>& field, V v) {
    field = v;
    return *this;
  }
};

struct ObjectCounters {
  uint64_t media = 0;
  uint64_t metadata = 0;
  uint64_t media_bytes = 0;  // body bytes of its media responses, counted before the send
};

struct CounterSnapshot {
  uint64_t list = 0;
  uint64_t media_bytes = 0;
  uint64_t media_streams_max = 0;  // most media bodies being sent at once since the reset
  std::map<std::string, ObjectCounters> objects;  // Keyed "<bucket>/<object>".

  // Zeroes for an object that was never requested.
  ObjectCounters Of(const std::string& object_key) const;
};

class FakeGcsProcess {
 public:
  struct Options {
    std::string binary;  // Path to the fakegcs executable.
    std::string root;    // Object root; empty = a fresh temp dir, deleted on Stop().
    bool verbose = false;
    int start_timeout_ms = 10'000;
  };

  // Starts the server and waits until it listens; throws std::runtime_error on failure.
  explicit FakeGcsProcess(const Options& options);
  ~FakeGcsProcess();
  FakeGcsProcess(const FakeGcsProcess&) = delete;
  FakeGcsProcess& operator=(const FakeGcsProcess&) = delete;

  // SIGTERM, then SIGKILL if it has not exited within a few seconds. Idempotent.
  void Stop();

  uint16_t port() const { return port_; }
  std::string endpoint() const;  // "http://127.0.0.1:<port>"
  const std::string& root() const { return root_; }
  pid_t pid() const { return pid_; }

  // Writes the object atomically (temp file + rename) and returns its GCS generation.
  int64_t PutObject(const std::string& bucket, const std::string& name, std::string_view bytes);
  void RemoveObject(const std::string& bucket, const std::string& name);
  void CreateBucket(const std::string& bucket);
  std::string ObjectPath(const std::string& bucket, const std::string& name) const;

  CounterSnapshot Counters();
  void Reset();
  void AddFault(const std::string& object_key, const Fault& fault);
  // Caps every media response stream at `bps` bytes/s (0: no cap), like a real link per
  // connection. Reset() leaves it.
  void SetPace(uint64_t bps);

 private:
  // POST or GET on the control API; returns the body, throws unless the status is 200.
  std::string Control(const std::string& method, const std::string& path_and_query);

  std::string root_;
  bool owns_root_ = false;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  uint64_t temp_counter_ = 0;
};

}  // namespace devserver::fakegcs
