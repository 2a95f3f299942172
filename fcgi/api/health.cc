// /check_health: whether this host can take work, for schedulers and load balancers.
#include <unistd.h>

#include <Poco/JSON/Object.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>

#include "fcgi/api/endpoints.h"
#include "fcgi/metrics/metrics.h"
#include "fcgi/staging/staging_service.h"
#include "generated/version.h"

namespace devserver {
namespace {

// A byte rate as the old lab client reads it: a whole number.
uint64_t WholeRate(std::string_view series) {
  return static_cast<uint64_t>(std::llround(std::max(0.0, metrics::GaugeSum(series))));
}

Status CheckHealth(const ServiceInfo& service, const Request&, Response* response) {
  DiskSpace disk;
  Status s = service.env->Disk(service.config.static_root, &disk);
  if (!s.ok()) return Status::Failed("cannot read free disk space: " + s.message());
  const uint64_t free_bytes = disk.available;

  state::StateSummary summary;
  s = service.staging->Summary(&summary);
  if (!s.ok()) return s;

  Poco::JSON::Object health(Poco::JSON_PRESERVE_KEY_ORDER);
  health.set("free_disk", free_bytes >> 30);  // GiB, as the old devserver's clients expect
  health.set("free_disk_bytes", free_bytes);
  health.set("staging_thread_count", summary.staging);
  // Read from the metric table: the workers count their requests there, and the master
  // samples the host there once a second, so every worker answers the same.
  health.set("apache_client_count",
             static_cast<int64_t>(std::llround(metrics::GaugeSum(metrics::kRequestsInFlight))));
  health.set("cpu_percent", std::round(metrics::GaugeSum(metrics::kHostCpuPercent) * 10) / 10);
  health.set("network_total_bytes_per_second", WholeRate(metrics::kHostNetworkBytesPerSecond));
  health.set("disk_total_bytes_per_second", WholeRate(metrics::kHostDiskBytesPerSecond));
  health.set("queue_depth", summary.queued);
  health.set("failed_artifacts", summary.failed);
  health.set("in_flight_bytes", summary.in_flight_bytes);
  health.set("cache_size_bytes", summary.staged_bytes);
  health.set("workers", service.config.EffectiveWorkers());
  health.set("threads_per_worker", service.config.threads);
  health.set("uptime_seconds", service.env->WallSeconds() - service.started_at);
  health.set("version", kDevserverVersion);
  health.set("pid", static_cast<int>(getpid()));
  std::ostringstream out;
  health.stringify(out);
  *response = Response::Json(out.str());
  return Status::Ok();
}

}  // namespace

void RegisterHealthEndpoints(const ServiceInfo& service, Router* router) {
  router->Add({"/check_health",
               {"GET"},
               "Health of this host as JSON: free disk, load, workers, uptime, version.",
               "GET /check_health\n\n"
               "Returns JSON:\n"
               "  free_disk             free space of the static root in GiB (integer)\n"
               "  free_disk_bytes       the same in bytes\n"
               "  staging_thread_count  artifacts being staged on this host now\n"
               "  apache_client_count   API requests being answered now by all the workers\n"
               "                        (integer); this one included, so a lone call reads 1.\n"
               "                        /static/ files, served by nginx, are not counted\n"
               "  cpu_percent           busy share of the host's CPU time, all CPUs together\n"
               "                        (not idle, not waiting for I/O), 0-100, one decimal\n"
               "  network_total_bytes_per_second\n"
               "                        bytes received plus sent by every network interface\n"
               "                        of the host but loopback (integer)\n"
               "  disk_total_bytes_per_second\n"
               "                        bytes read plus written by the host's whole disks\n"
               "                        (integer); partitions, loop, dm-, md, ram and zram\n"
               "                        devices are left out (their I/O is counted on the\n"
               "                        disks beneath, or is not disk I/O)\n"
               "    The three rates are host-wide (every process, not only devserver), averages\n"
               "    over the last second, measured from /proc/stat, /proc/net/dev and\n"
               "    /proc/diskstats by the pool's master once a second; 0 during the first\n"
               "    second after the service starts, before the second sample.\n"
               "  queue_depth           artifacts waiting for a stager\n"
               "  failed_artifacts      artifacts whose last attempt failed\n"
               "  in_flight_bytes       bytes downloaded so far by the stagings under way\n"
               "  cache_size_bytes      size of every staged file\n"
               "  workers               worker processes of the pool\n"
               "  threads_per_worker    request threads in each worker\n"
               "  uptime_seconds        since the pool's master started\n"
               "  version               devserver version\n"
               "  pid                   the worker process that answered\n",
               ServiceHandler(service, CheckHealth)});
}

}  // namespace devserver
