#include "fcgi/metrics/exposition.h"

#include <charconv>
#include <cmath>
#include <map>

namespace devserver::metrics {
namespace {

struct Aggregate {
  std::string_view type;  // "counter", "gauge", "histogram"
  std::array<double, kValueSlots> values{};
};

std::string_view FamilyOf(std::string_view series) { return series.substr(0, series.find('{')); }

std::string_view TypeOf(CellKind kind) {
  switch (kind) {
    case CellKind::kCounter:
      return "counter";
    case CellKind::kGauge:
    case CellKind::kSetGauge:
      return "gauge";
    case CellKind::kHistogram:
      return "histogram";
  }
  return "untyped";
}

std::string Number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : "NaN";
}

// "fam{a=\"1\"}" + suffix and one more label: "fam_bucket{a=\"1\",le=\"0.5\"}".
std::string WithSuffix(std::string_view series, std::string_view suffix, std::string_view label) {
  const size_t brace = series.find('{');
  std::string out(series.substr(0, brace));
  out += suffix;
  if (brace == std::string_view::npos) {
    if (!label.empty()) out += "{" + std::string(label) + "}";
    return out;
  }
  std::string_view labels = series.substr(brace + 1, series.size() - brace - 2);
  out += "{";
  out += labels;
  if (!label.empty()) {
    out += ",";
    out += label;
  }
  return out + "}";
}

void RenderSeries(std::string_view series, const Aggregate& a, std::string* out) {
  if (a.type != "histogram") {
    *out += std::string(series) + " " + Number(a.values[0]) + "\n";
    return;
  }
  double cumulative = 0;
  for (size_t b = 0; b < kBucketBounds.size(); ++b) {
    cumulative += a.values[b];
    *out += WithSuffix(series, "_bucket", "le=\"" + Number(kBucketBounds[b]) + "\"") + " " +
            Number(cumulative) + "\n";
  }
  cumulative += a.values[kOverflowSlot];
  *out += WithSuffix(series, "_bucket", "le=\"+Inf\"") + " " + Number(cumulative) + "\n";
  *out += WithSuffix(series, "_sum", "") + " " + Number(a.values[kSumSlot] / 1e6) + "\n";
  *out += WithSuffix(series, "_count", "") + " " + Number(cumulative) + "\n";
}

}  // namespace

const std::vector<Family>& Catalogue() {
  static const std::vector<Family> families = {
      {"devserver_build_info", "gauge", "version", "Always 1; the version of the service."},
      {"process_start_time_seconds", "gauge", "",
       "When the pool's master started, in seconds since the Unix epoch."},
      {"devserver_http_requests_total", "counter", "endpoint, code",
       "API requests answered, by endpoint (the route that served it; \"other\" for an unknown "
       "path) and HTTP status."},
      {"devserver_http_request_duration_seconds", "histogram", "endpoint",
       "Time from a request's arrival at a worker to its answer, by endpoint; long polls "
       "(/wait_for_status, a blocking /download) included."},
      {"devserver_http_requests_in_flight", "gauge", "",
       "API requests being answered now, across all workers."},
      {"devserver_waiters", "gauge", "",
       "Requests blocked waiting for stagings to settle (/wait_for_status, a blocking "
       "/download), across all workers."},
      {"devserver_stagings_started_total", "counter", "artifact",
       "Staging attempts started, by artifact type. One a stopping worker hands back to the "
       "queue is neither succeeded nor failed: the next attempt takes it over."},
      {"devserver_stagings_succeeded_total", "counter", "artifact",
       "Staging attempts that published their artifact."},
      {"devserver_stagings_failed_total", "counter", "artifact, kind",
       "Staging attempts that failed, by artifact type and kind of failure: not_found, "
       "upstream_http_<status>, upstream_connection, checksum, stall, disk_full, "
       "archive_refused, lease_lost, other."},
      {"devserver_staging_duration_seconds", "histogram", "artifact",
       "Duration of staging attempts that succeeded, by artifact type."},
      {"devserver_artifacts", "gauge", "state",
       "Artifacts by state (queued: the queue's depth; staging: stagings in progress; failed), "
       "read from the state database."},
      {"devserver_staging_bytes_done", "gauge", "",
       "Bytes downloaded so far by the stagings in progress."},
      {"devserver_upstream_requests_total", "counter", "method, code",
       "HTTP requests to the archive (GCS) and its token service, by method and answer: an "
       "HTTP status, or a transport failure (connect, timeout, closed, protocol, "
       "certificate)."},
      {"devserver_upstream_bytes_total", "counter", "", "Body bytes received from the archive."},
      {"devserver_peer_requests_total", "counter", "method, code",
       "HTTP requests to other hosts of the cluster for peer fill, by method and answer (as for "
       "the archive)."},
      {"devserver_peer_bytes_total", "counter", "", "Body bytes received from other hosts."},
      {"devserver_peer_fills_total", "counter", "result",
       "Peers asked for an object before the archive, by outcome: filled, not_held, "
       "unreachable, failed, checksum (a copy that did not match the archive's checksum), "
       "cancelled."},
      {"devserver_published_files_total", "counter", "",
       "Files published under the static root by stagings."},
      {"devserver_published_bytes_total", "counter", "", "Bytes of the files published."},
      {"devserver_cache_bytes", "gauge", "", "Size of every staged file (the cache)."},
      {"devserver_cache_budget_bytes", "gauge", "",
       "[cache] max_bytes, the cache's budget; 0 when unlimited."},
      {"devserver_disk_free_bytes", "gauge", "",
       "Free space of the static root's file system, for an unprivileged user."},
      {"devserver_evictions_total", "counter", "", "Builds evicted by the workers' janitor."},
      {"devserver_evicted_bytes_total", "counter", "", "Bytes freed by those evictions."},
      {"devserver_worker_restarts_total", "counter", "",
       "Workers the master replaced after they died (crash, kill, failed start)."},
      {"devserver_sqlite_busy_waits_total", "counter", "",
       "Times a database access had to wait for another connection's lock."},
      {"devserver_omaha_update_checks_total", "counter", "result",
       "Omaha update checks answered, by result: update, noupdate, error."},
      {"devserver_omaha_events_total", "counter", "type, result",
       "Omaha events devices reported, by event type and result code."},
      {"devserver_host_cpu_percent", "gauge", "",
       "Share of the host's CPU time, all CPUs together, that was busy (neither idle nor "
       "waiting for I/O) over the last second, in percent (0-100); from /proc/stat, sampled by "
       "the pool's master. 0 until its second sample."},
      {"devserver_host_network_bytes_per_second", "gauge", "",
       "Bytes received plus sent per second over the last second by every network interface "
       "of the host but loopback; from /proc/net/dev, sampled by the pool's master."},
      {"devserver_host_disk_bytes_per_second", "gauge", "",
       "Bytes read plus written per second over the last second by the host's whole disks "
       "(partitions, loop, device-mapper, md, ram and zram devices left out: their I/O is "
       "counted on the disks beneath or is not disk I/O); from /proc/diskstats, sampled by the "
       "pool's master."},
      {"devserver_metrics_dropped_series_total", "counter", "",
       "Series not counted because the metric table was full or their key too long."},
  };
  return families;
}

std::string RenderExposition(const MetricTable* table, const std::vector<Sample>& computed) {
  // family -> series -> its sum over every cell (one per owner) and computed value
  std::map<std::string, std::map<std::string, Aggregate>, std::less<>> by_family;
  if (table != nullptr) {
    table->ForEach([&](const CellSnapshot& cell) {
      Aggregate& a = by_family[std::string(FamilyOf(cell.key))][std::string(cell.key)];
      a.type = TypeOf(cell.kind);
      for (size_t v = 0; v < kValueSlots; ++v) a.values[v] += SlotValue(cell.kind, cell.values[v]);
    });
    Aggregate dropped{"counter", {}};
    dropped.values[0] = static_cast<double>(table->dropped());
    by_family["devserver_metrics_dropped_series_total"]["devserver_metrics_dropped_series_total"] =
        dropped;
  }
  for (const Sample& sample : computed) {
    Aggregate& a = by_family[std::string(FamilyOf(sample.series))][sample.series];
    a.type = "gauge";
    a.values[0] = sample.value;
  }

  std::string out;
  auto render_family = [&](std::string_view name, std::string_view type, std::string_view help,
                           const std::map<std::string, Aggregate>* series) {
    out += "# HELP " + std::string(name) + " " + std::string(help) + "\n";
    out += "# TYPE " + std::string(name) + " " + std::string(type) + "\n";
    if (series == nullptr) {
      out += std::string(name) + " 0\n";
      return;
    }
    for (const auto& [key, aggregate] : *series) RenderSeries(key, aggregate, &out);
  };
  for (const Family& family : Catalogue()) {
    auto it = by_family.find(family.name);
    if (it != by_family.end()) {
      render_family(family.name, family.type, family.help, &it->second);
      by_family.erase(it);
    } else if (family.labels.empty() && family.type != "histogram") {
      render_family(family.name, family.type, family.help, nullptr);
    }
  }
  // Counted without a catalogue entry: still shown, untyped (the catalogue test catches it).
  for (const auto& [name, series] : by_family) {
    out += "# TYPE " + name + " untyped\n";
    for (const auto& [key, aggregate] : series) {
      Aggregate plain = aggregate;
      plain.type = "untyped";
      RenderSeries(key, plain, &out);
    }
  }
  return out;
}

}  // namespace devserver::metrics
