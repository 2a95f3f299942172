// Fault injection: per-object misbehaviour that tests arm through /_fake/fault.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace devserver::fakegcs {

enum class RequestKind { kMedia, kMetadata, kList };

// One armed fault, as parsed from the query of POST /_fake/fault. Several kinds can be set at
// once; they act together on each request the fault applies to.
struct FaultSpec {
  std::optional<int> status;            // Answer with this HTTP status and a GCS error body.
  std::optional<int64_t> delay_ms;      // Wait before the response starts.
  std::optional<uint64_t> stall_at;     // Send this many body bytes, then go silent.
  std::optional<uint64_t> truncate_at;  // Send this many body bytes, then close the connection.
  std::optional<uint64_t> corrupt_at;   // Flip the byte at this object offset.
  std::optional<uint64_t> pace_bps;     // Throttle the body to this many bytes per second.
  std::optional<int64_t> count;         // Requests left; unset means until reset.
  bool all_scopes = false;              // Also hit metadata and list requests (status, delay).
  // Only media requests whose Range starts at this byte (one slice of a sliced download); a
  // request without a Range starts at 0.
  std::optional<uint64_t> range_start;
};

// Parses the query parameters of a fault request; on failure returns nullopt and sets `error`.
std::optional<FaultSpec> ParseFaultSpec(const std::vector<std::pair<std::string, std::string>>& q,
                                        std::string* error);

// What a single request must suffer: the union of every fault that applied to it.
struct FaultPlan {
  std::optional<int> status;
  int64_t delay_ms = 0;
  std::optional<uint64_t> stall_at;
  std::optional<uint64_t> truncate_at;
  std::vector<uint64_t> corrupt_at;
  std::optional<uint64_t> pace_bps;

  bool AltersBody() const { return stall_at || truncate_at || !corrupt_at.empty() || pace_bps; }
};

class FaultBook {
 public:
  void Add(const std::string& object_key, const FaultSpec& spec);
  void Reset();

  // Consumes one use of every fault that applies to a `kind` request on `object_key` whose body
  // would start at object byte `range_start`.
  FaultPlan Take(const std::string& object_key, RequestKind kind, uint64_t range_start = 0);

  // For a list request over `bucket` with `prefix`: consumes one use of each all-scope fault on
  // an object the listing covers.
  FaultPlan TakeForList(const std::string& bucket, const std::string& prefix);

 private:
  static bool Applies(const FaultSpec& spec, RequestKind kind, uint64_t range_start);
  static void Merge(const FaultSpec& spec, FaultPlan& plan);
  static void Consume(std::vector<FaultSpec>& faults, RequestKind kind, uint64_t range_start,
                      FaultPlan& plan);

  std::mutex mu_;
  std::map<std::string, std::vector<FaultSpec>> faults_;
};

}  // namespace devserver::fakegcs
