// /check_health: whether this host can take work, for schedulers and load balancers.
#include <unistd.h>

#include <Poco/JSON/Object.h>

#include <sstream>

#include "fcgi/api/endpoints.h"
#include "fcgi/staging/staging_service.h"
#include "generated/version.h"

namespace devserver {
namespace {

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
               "Health of this host as JSON: free disk, workers, uptime, version.",
               "GET /check_health\n\n"
               "Returns JSON:\n"
               "  free_disk             free space of the static root in GiB (integer)\n"
               "  free_disk_bytes       the same in bytes\n"
               "  staging_thread_count  artifacts being staged on this host now\n"
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
