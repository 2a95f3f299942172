// /api/status: what the live status page shows, as JSON; the page's script polls it.
#include <Poco/Dynamic/Var.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <optional>
#include <sstream>

#include "fcgi/api/endpoints.h"
#include "fcgi/api/status_report.h"
#include "generated/version.h"

namespace devserver {
namespace {

using Poco::JSON::Array;
using Poco::JSON::Object;

// Absent values are null, so every object of a kind has the same keys.
Poco::Dynamic::Var OrNull(const std::optional<int64_t>& value) {
  return value ? Poco::Dynamic::Var(*value) : Poco::Dynamic::Var();
}
Poco::Dynamic::Var OrNull(const std::string& value) {
  return value.empty() ? Poco::Dynamic::Var() : Poco::Dynamic::Var(value);
}

Object::Ptr NewObject() { return new Object(Poco::JSON_PRESERVE_KEY_ORDER); }

Object::Ptr ArtifactJson(const ArtifactReport& a) {
  const state::ArtifactStatus& status = a.progress.status;
  Object::Ptr json = NewObject();
  json->set("name", status.artifact);
  json->set("state", state::ArtifactStateName(status.state));
  json->set("bytes_done", status.bytes_done);
  json->set("bytes_total", OrNull(status.bytes_total));
  json->set("rate_bytes_per_s", OrNull(a.pace.rate_bytes_per_s));
  json->set("eta_s", OrNull(a.pace.eta_s));
  json->set("error", OrNull(status.error));
  json->set("attempts", status.attempts);
  json->set("requested_at", a.progress.requested_at);
  json->set("started_at", OrNull(a.progress.started_at));
  json->set("updated_at", OrNull(a.progress.updated_at));
  json->set("finished_at", OrNull(a.progress.finished_at));
  return json;
}

Object::Ptr BuildJson(const BuildReport& b) {
  Object::Ptr json = NewObject();
  json->set("build", b.build);
  json->set("archive_url", b.archive_url);
  json->set("last_used_at", b.last_used_at);
  Array::Ptr artifacts = new Array;
  for (const ArtifactReport& a : b.artifacts) artifacts->add(ArtifactJson(a));
  json->set("artifacts", artifacts);
  return json;
}

Object::Ptr OmahaEventJson(const state::OmahaLogEntry& e) {
  Object::Ptr json = NewObject();
  json->set("ip", e.ip);
  json->set("timestamp", e.at_us / 1000000);
  json->set("version", e.version);
  json->set("track", e.track);
  json->set("board", e.board);
  json->set("event_type", OrNull(e.event_type));
  json->set("event_result", OrNull(e.event_result));
  json->set("error_code", OrNull(e.error_code));
  json->set("previous_version", OrNull(e.previous_version));
  json->set("description", DescribeOmahaEntry(e));
  return json;
}

std::string StatusJson(const StatusReport& report) {
  Object json(Poco::JSON_PRESERVE_KEY_ORDER);
  json.set("version", kDevserverVersion);
  json.set("generated_at", report.generated_at);

  Object::Ptr totals = NewObject();
  totals->set("staging", report.totals.staging);
  totals->set("queued", report.totals.queued);
  totals->set("failed", report.totals.failed);
  totals->set("in_flight_bytes", report.totals.in_flight_bytes);
  json.set("totals", totals);

  const DiskReport& d = report.disk;
  Object::Ptr disk = NewObject();
  disk->set("free_bytes", d.free_bytes);
  disk->set("total_bytes", d.total_bytes);
  disk->set("cache_bytes", d.cache_bytes);
  disk->set("max_cache_bytes",
            d.max_cache_bytes > 0 ? Poco::Dynamic::Var(d.max_cache_bytes) : Poco::Dynamic::Var());
  disk->set("min_free_percent", d.min_free_percent);
  disk->set("min_free_bytes", d.min_free_bytes);
  disk->set("bytes_to_free", d.bytes_to_free);
  json.set("disk", disk);

  Array::Ptr builds = new Array;
  for (const BuildReport& b : report.builds) builds->add(BuildJson(b));
  json.set("builds", builds);

  Array::Ptr queue = new Array;
  for (const state::StateDb::QueuedArtifact& q : report.queue) {
    Object::Ptr entry = NewObject();
    entry->set("build", q.build);
    entry->set("artifact", q.artifact);
    entry->set("priority", q.priority);
    entry->set("requested_at", q.requested_at);
    queue->add(entry);
  }
  json.set("queue", queue);

  Array::Ptr events = new Array;
  for (const state::OmahaLogEntry& e : report.omaha_events) events->add(OmahaEventJson(e));
  json.set("omaha_events", events);

  std::ostringstream out;
  json.stringify(out);
  return out.str();
}

Status ServeStatus(const ServiceInfo& service, const Request&, Response* response) {
  StatusReport report;
  Status s = CollectStatus(service, &report);
  if (!s.ok()) return s;
  *response = Response::Json(StatusJson(report));
  // Polled every second: a cached copy would freeze the page.
  response->headers.emplace_back("Cache-Control", "no-store");
  return Status::Ok();
}

constexpr const char* kStatusDoc =
    "GET /api/status\n"
    "\n"
    "What the index page shows, as JSON (its script polls this every second). Times are Unix\n"
    "seconds; sizes bytes; a value not known is null.\n"
    "  version           devserver version\n"
    "  generated_at      when this answer was read\n"
    "  totals            host-wide counts over every build:\n"
    "    staging           artifacts being staged now\n"
    "    queued            artifacts waiting for a stager (queue lists the first 100)\n"
    "    failed            artifacts whose last attempt failed\n"
    "    in_flight_bytes   bytes downloaded so far by the stagings under way\n"
    "  disk              the static root's file system against the [cache] budget:\n"
    "    free_bytes        free space the service may use\n"
    "    total_bytes       size of the file system\n"
    "    cache_bytes       staged files (a file several artifacts list counts once)\n"
    "    max_cache_bytes   [cache] max_cache_size; null: no limit\n"
    "    min_free_percent  [cache] min_free_percent; 0: no floor\n"
    "    min_free_bytes    that percent of total_bytes\n"
    "    bytes_to_free     what eviction must free for the budget to hold; 0: within it\n"
    "  builds            the 100 most recently used builds, newest first (ties by name):\n"
    "    build             directory under the static root: <path>/<build>\n"
    "    archive_url       gs://<bucket>/<path>/<build>\n"
    "    last_used_at      last API call naming it or read of its files (to the minute)\n"
    "    artifacts         every artifact asked for, by name:\n"
    "      name              full_payload, ...; plain files as file:<name>\n"
    "      state             queued, staging, staged or failed\n"
    "      bytes_done        downloaded so far (staging), or the size (staged)\n"
    "      bytes_total       size once known, else null\n"
    "      rate_bytes_per_s  staging: bytes_done over the seconds from started_at to\n"
    "                        updated_at (the attempt's average); null otherwise, or until a\n"
    "                        heartbeat a second into the attempt\n"
    "      eta_s             staging: seconds after updated_at until bytes_total at that\n"
    "                        rate; null without a rate above 0 or a known size\n"
    "      error             failed: the cause; staging: why the last attempt was lost;\n"
    "                        else null\n"
    "      attempts          claims of this staging round\n"
    "      requested_at      when it was last queued\n"
    "      started_at        when the current or last attempt was claimed; null if never\n"
    "      updated_at        staging: when bytes_done was recorded (the claim's last\n"
    "                        heartbeat, about every second); else null\n"
    "      finished_at       when it became staged or failed; null otherwise\n"
    "  queue             the first 100 queued artifacts, in the order stagers take them:\n"
    "    build, artifact   as above\n"
    "    priority          0: a caller waits for it (foreground); 1: background\n"
    "    requested_at      when it was queued\n"
    "  omaha_events      the 20 newest update client log entries (as /api/hostlog), newest\n"
    "                    first; [] when there are none. Workers write them in batches, so an\n"
    "                    entry shows up to a fifth of a second after its request:\n"
    "    ip                the client\n"
    "    timestamp         when its request came\n"
    "    version, track, board  as the client reported them\n"
    "    event_type        3 update complete or failed, 13 download started, 14 download\n"
    "                      finished, 54 rebooted into the new version; null: an update check\n"
    "    event_result      0 error, 1 success, 2 success and reboot; null for a check\n"
    "    error_code        as update_engine sent it, or null\n"
    "    previous_version  the version updated from, or null\n"
    "    description       the entry in words: \"update check\", \"update: error (error\n"
    "                      code 7), from 15437.0.0\"\n";

}  // namespace

void RegisterStatusEndpoints(const ServiceInfo& service, Router* router) {
  router->Add({"/api/status",
               {"GET"},
               "What the index page shows, as JSON: builds with progress, queue, disk, events.",
               kStatusDoc,
               ServiceHandler(service, ServeStatus)});
}

}  // namespace devserver
