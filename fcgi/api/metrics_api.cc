// /metrics: the service's counters for Prometheus. What the pool counted comes from the
// shared metric table (every worker's, past ones included); what the state database knows
// (the queue, stagings, the cache) is read from it at scrape time, never kept twice.
#include "fcgi/api/endpoints.h"
#include "fcgi/metrics/exposition.h"
#include "fcgi/metrics/metrics.h"
#include "fcgi/staging/staging_service.h"
#include "generated/version.h"

namespace devserver {
namespace {

Status Metrics(const ServiceInfo& service, const Request&, Response* response) {
  state::StateSummary summary;
  Status s = service.staging->Summary(&summary);
  if (!s.ok()) return s;
  DiskSpace disk;
  s = service.env->Disk(service.config.static_root, &disk);
  if (!s.ok()) return Status::Failed("cannot read free disk space: " + s.message());

  using metrics::Series;
  const std::vector<metrics::Sample> computed = {
      {Series("devserver_build_info", {{"version", kDevserverVersion}}), 1},
      {"process_start_time_seconds", static_cast<double>(service.started_at)},
      {Series("devserver_artifacts", {{"state", "queued"}}), static_cast<double>(summary.queued)},
      {Series("devserver_artifacts", {{"state", "staging"}}), static_cast<double>(summary.staging)},
      {Series("devserver_artifacts", {{"state", "failed"}}), static_cast<double>(summary.failed)},
      {"devserver_staging_bytes_done", static_cast<double>(summary.in_flight_bytes)},
      {"devserver_cache_bytes", static_cast<double>(summary.staged_bytes)},
      {"devserver_cache_budget_bytes", static_cast<double>(service.config.cache_max_bytes)},
      {"devserver_disk_free_bytes", static_cast<double>(disk.available)},
  };
  *response = Response::Text(metrics::RenderExposition(metrics::Installed(), computed));
  response->content_type = std::string(metrics::kExpositionContentType);
  return Status::Ok();
}

std::string MetricsDoc() {
  std::string doc =
      "GET /metrics\n\n"
      "The service's metrics in the Prometheus text format (0.0.4). Counters are summed over "
      "every worker the pool has run since it started (restarts and reloads included); they "
      "start again from 0 when the service restarts (see process_start_time_seconds).\n\n";
  for (const metrics::Family& f : metrics::Catalogue()) {
    doc += "  " + std::string(f.name) + " (" + std::string(f.type);
    if (!f.labels.empty()) doc += "; labels: " + std::string(f.labels);
    doc += ")\n      " + std::string(f.help) + "\n";
  }
  return doc;
}

}  // namespace

void RegisterMetricsEndpoints(const ServiceInfo& service, Router* router) {
  router->Add({"/metrics",
               {"GET"},
               "Metrics for Prometheus: requests, stagings, upstream traffic, cache, queue.",
               MetricsDoc(),
               ServiceHandler(service, Metrics)});
}

}  // namespace devserver
