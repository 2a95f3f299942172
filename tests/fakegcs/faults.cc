#include "tests/fakegcs/faults.h"

#include <algorithm>
#include <charconv>

namespace devserver::fakegcs {
namespace {

template <typename T>
bool ParseNumber(const std::string& s, T& out) {
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

}  // namespace

std::optional<FaultSpec> ParseFaultSpec(const std::vector<std::pair<std::string, std::string>>& q,
                                        std::string* error) {
  FaultSpec spec;
  bool any = false;
  for (const auto& [key, value] : q) {
    bool ok = true;
    if (key == "object") continue;
    if (key == "scope") {
      ok = value == "all" || value == "media";
      spec.all_scopes = value == "all";
      if (ok) continue;
    } else if (key == "status") {
      int v = 0;
      ok = ParseNumber(value, v) && v >= 100 && v <= 599;
      spec.status = v;
    } else if (key == "delay_ms") {
      int64_t v = 0;
      ok = ParseNumber(value, v) && v >= 0;
      spec.delay_ms = v;
    } else if (key == "count") {
      int64_t v = 0;
      ok = ParseNumber(value, v) && v > 0;
      spec.count = v;
      if (ok) continue;
    } else if (key == "range_start") {
      uint64_t v = 0;
      ok = ParseNumber(value, v);
      spec.range_start = v;
      if (ok) continue;
    } else {
      uint64_t v = 0;
      ok = ParseNumber(value, v);
      if (key == "stall_at") {
        spec.stall_at = v;
      } else if (key == "truncate_at") {
        spec.truncate_at = v;
      } else if (key == "corrupt_at") {
        spec.corrupt_at = v;
      } else if (key == "pace_bps") {
        ok = ok && v > 0;
        spec.pace_bps = v;
      } else {
        *error = "unknown fault parameter '" + key + "'";
        return std::nullopt;
      }
    }
    if (!ok) {
      error->assign("bad value '").append(value).append("' for '").append(key).append("'");
      return std::nullopt;
    }
    any = true;
  }
  if (!any) {
    *error = "no fault given (status, delay_ms, stall_at, truncate_at, corrupt_at, pace_bps)";
    return std::nullopt;
  }
  return spec;
}

void FaultBook::Add(const std::string& object_key, const FaultSpec& spec) {
  std::lock_guard lock(mu_);
  faults_[object_key].push_back(spec);
}

void FaultBook::Reset() {
  std::lock_guard lock(mu_);
  faults_.clear();
}

bool FaultBook::Applies(const FaultSpec& spec, RequestKind kind, uint64_t range_start) {
  if (kind == RequestKind::kMedia) return !spec.range_start || *spec.range_start == range_start;
  return spec.all_scopes && !spec.range_start;
}

void FaultBook::Merge(const FaultSpec& spec, FaultPlan& plan) {
  // When faults overlap, the harsher setting wins: the first status armed, the longest delay,
  // the earliest cut, the slowest pace.
  if (spec.status && !plan.status) plan.status = spec.status;
  if (spec.delay_ms) plan.delay_ms = std::max(plan.delay_ms, *spec.delay_ms);
  auto earliest = [](std::optional<uint64_t>& into, const std::optional<uint64_t>& v) {
    if (v && (!into || *v < *into)) into = v;
  };
  earliest(plan.stall_at, spec.stall_at);
  earliest(plan.truncate_at, spec.truncate_at);
  earliest(plan.pace_bps, spec.pace_bps);
  if (spec.corrupt_at) plan.corrupt_at.push_back(*spec.corrupt_at);
}

void FaultBook::Consume(std::vector<FaultSpec>& faults, RequestKind kind, uint64_t range_start,
                        FaultPlan& plan) {
  for (auto it = faults.begin(); it != faults.end();) {
    if (!Applies(*it, kind, range_start)) {
      ++it;
      continue;
    }
    FaultSpec spec = *it;
    if (kind != RequestKind::kMedia) {
      // Metadata and list responses have no object body to damage.
      spec.stall_at = spec.truncate_at = spec.corrupt_at = spec.pace_bps = std::nullopt;
      if (!spec.status && !spec.delay_ms) {
        ++it;
        continue;
      }
    }
    Merge(spec, plan);
    if (it->count && --*it->count == 0) {
      it = faults.erase(it);
    } else {
      ++it;
    }
  }
}

FaultPlan FaultBook::Take(const std::string& object_key, RequestKind kind, uint64_t range_start) {
  FaultPlan plan;
  std::lock_guard lock(mu_);
  auto it = faults_.find(object_key);
  if (it == faults_.end()) return plan;
  Consume(it->second, kind, range_start, plan);
  if (it->second.empty()) faults_.erase(it);
  return plan;
}

FaultPlan FaultBook::TakeForList(const std::string& bucket, const std::string& prefix) {
  FaultPlan plan;
  const std::string key_prefix = bucket + "/" + prefix;
  std::lock_guard lock(mu_);
  for (auto it = faults_.lower_bound(key_prefix);
       it != faults_.end() && it->first.compare(0, key_prefix.size(), key_prefix) == 0;) {
    Consume(it->second, RequestKind::kList, 0, plan);
    it = it->second.empty() ? faults_.erase(it) : std::next(it);
  }
  return plan;
}

}  // namespace devserver::fakegcs
