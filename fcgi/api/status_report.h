// What the live status page shows, gathered once for /api/status and the index page alike:
// the state's snapshot with each staging's rate and ETA, and the disk against the eviction
// budget.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fcgi/api/service.h"
#include "fcgi/base/status.h"
#include "fcgi/state/state_db.h"

namespace devserver {

// How fast a staging artifact moves, from what its heartbeats recorded.
struct Pace {
  std::optional<int64_t> rate_bytes_per_s;  // none before a heartbeat a second into the attempt
  std::optional<int64_t> eta_s;             // none without a rate above 0 or a known size
};

// The attempt's average since its claim: bytes_done over the seconds from started_at to
// updated_at. Only staging artifacts have a pace.
Pace PaceOf(const state::StateDb::ArtifactProgress& artifact);

struct ArtifactReport {
  state::StateDb::ArtifactProgress progress;
  Pace pace;
};

struct BuildReport {
  std::string build;
  std::string archive_url;
  int64_t last_used_at = 0;
  std::vector<ArtifactReport> artifacts;  // by name
};

struct DiskReport {
  int64_t free_bytes = 0;       // of the static root's file system, to the service
  int64_t total_bytes = 0;      // of that file system
  int64_t cache_bytes = 0;      // staged files, each counted once
  int64_t max_cache_bytes = 0;  // [cache] max_cache_size; 0: no limit
  int min_free_percent = 0;     // [cache] min_free_percent; 0: no floor
  int64_t min_free_bytes = 0;   // that percent of total_bytes
  int64_t bytes_to_free = 0;    // what eviction must free for the budget to hold; 0: within
};

struct StatusReport {
  int64_t generated_at = 0;  // Unix seconds
  state::StateSummary totals;
  DiskReport disk;
  std::vector<BuildReport> builds;                    // most recently used first
  std::vector<state::StateDb::QueuedArtifact> queue;  // in claim order, the first ones
  std::vector<state::OmahaLogEntry> omaha_events;     // newest first
};

// At most this many builds (as the index always showed), queued artifacts and log entries.
inline constexpr state::StateDb::LiveStatusLimits kStatusLimits{100, 100, 20};

Status CollectStatus(const ServiceInfo& service, StatusReport* report);

// An update client's log entry in words: "update check", "download started: success",
// "update: error (error code 7), from 15437.0.0".
std::string DescribeOmahaEntry(const state::OmahaLogEntry& entry);

}  // namespace devserver
