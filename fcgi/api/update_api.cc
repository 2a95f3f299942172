// POST /update[/<label>]: the Omaha server Chrome OS devices update from.
//
// The label is a build directory under the static root ("eve-release/R119-15633.0.0": its
// full payload) or a delta directory in it (".../au/R119-15633.0.0_nton": that delta). A
// label that is not staged is staged on demand, through the same claims as /download, and
// the device gets its answer once it is staged (or 503 + Retry-After after max_wait: devices
// check again). The answer comes from the facts recorded when the payload was staged; no
// update check ever reads the payload. Each request's events and update checks go to the
// client's log (by IP), and an update check takes the label /api/setnextupdate set for it.
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "fcgi/api/endpoints.h"
#include "fcgi/api/omaha_clients.h"
#include "fcgi/api/staging_calls.h"
#include "fcgi/http/read_body.h"
#include "fcgi/metrics/metrics.h"
#include "fcgi/omaha/repeat_filter.h"
#include "fcgi/omaha/update_request.h"
#include "fcgi/omaha/update_response.h"

namespace devserver {
namespace {

using omaha::AppAnswer;
using omaha::Offer;
using omaha::UpdateRequest;

constexpr const char* kUpdatePath = "/update";
constexpr const char* kDeltaDir = "/au/";
constexpr const char* kPayloadName = "update.gz";

// Which payload a label names.
struct LabelTarget {
  std::string label;
  std::string folder;    // the build's directory under the static root
  std::string artifact;  // full_payload or delta_payloads
  std::string path;      // the payload, relative to the build directory
  bool is_delta = false;
};

Status ParseLabel(const std::string& label, LabelTarget* target) {
  Status s = CheckRelativePath("label", label);
  if (!s.ok()) return s;
  target->label = label;
  const size_t au = label.find(kDeltaDir);
  if (au == std::string::npos) {
    target->folder = label;
    target->artifact = "full_payload";
    target->path = kPayloadName;
    return Status::Ok();
  }
  target->folder = label.substr(0, au);
  target->artifact = "delta_payloads";
  target->path = label.substr(au + 1) + "/" + kPayloadName;
  target->is_delta = true;
  return Status::Ok();
}

// The build a static folder holds: "gs/<bucket>/<prefix>" is another bucket's, anything else
// the default bucket's. NotFound when no allowed build has that folder.
Status RefOfFolder(const ServiceInfo& service, const std::string& folder, BuildRef* ref) {
  const std::string other = std::string(kOtherBucketsDir) + "/";
  const std::string url = folder.rfind(other, 0) == 0
                              ? "gs://" + folder.substr(other.size())
                              : "gs://" + service.config.allowed_buckets.front() + "/" + folder;
  Status s = ParseArchiveUrl(url, service.config.allowed_buckets, ref);
  if (!s.ok() || ref->folder != folder) {
    return Status::NotFound(folder + " is no build directory of an allowed bucket");
  }
  return Status::Ok();
}

// http://host/static/<label>/, from [omaha] base_url, else X-Forwarded-Host, else Host.
std::string BaseUrl(const ServiceInfo& service, const Request& req, const std::string& label) {
  std::string base = service.config.omaha_base_url;
  if (base.empty()) {
    std::string host = req.forwarded_host.substr(0, req.forwarded_host.find(','));
    while (!host.empty() && host.front() == ' ') host.erase(0, 1);
    while (!host.empty() && host.back() == ' ') host.pop_back();
    base = "http://" + (host.empty() ? req.host : host);
  }
  return base + "/static/" + label + "/";
}

// The payload the label names, staged now if it was not. *found false: the label names no
// payload (no such build upstream, or no such delta), which devices are told as "noupdate".
// With `probe`, the first read also asks whether a label waits for the client; if one may,
// nothing is staged: the caller takes the label first.
Status FindOffer(const ServiceInfo& service, const Request& req, const LabelTarget& target,
                 Offer* offer, bool* found, state::NextUpdateProbe* probe) {
  *found = false;
  BuildRef ref;
  if (!RefOfFolder(service, target.folder, &ref).ok()) {
    if (probe != nullptr) probe->waiting = true;  // not asked: the caller asks on its own
    return Status::Ok();
  }
  // The common case, a staged payload: one read of its state and files (with their facts)
  // and a look at them on disk. Otherwise it is staged now, as /download would.
  ArtifactStatuses statuses;
  std::vector<std::vector<state::StagedFile>> files;
  Status s = service.staging->Check(ref, {target.artifact}, &statuses, &files, probe);
  if (s.ok() && probe != nullptr && probe->waiting) return Status::Ok();
  if (s.ok() && statuses[0].state != state::ArtifactState::kStaged) {
    s = EnsureStaged(service, req, ref, {target.artifact});
    if (s.code() == Status::Code::kFailed) {
      Status checked = service.staging->Check(ref, {target.artifact}, &statuses);
      if (checked.ok() && statuses[0].state == state::ArtifactState::kFailed &&
          statuses[0].error_kind == "not_found") {
        return Status::Ok();  // nothing upstream by that name: no update, not an error
      }
    }
    if (s.ok()) s = service.staging->Check(ref, {target.artifact}, &statuses, &files);
    if (s.ok() && statuses[0].state != state::ArtifactState::kStaged) {
      s = Status::Unavailable(ref.archive_url + ": " + target.artifact +
                              " went missing right after staging; ask again");
    }
  }
  if (!s.ok()) return s;
  for (state::StagedFile& file : files[0]) {
    if (file.path != target.path) continue;
    if (!file.payload) {
      // Staged by a version that did not record payload facts: computed now, once.
      s = service.staging->FillPayloadFacts(ref.folder, target.artifact, target.is_delta, &file);
      if (!s.ok()) return s;
    }
    offer->base_url = BaseUrl(service, req, target.label);
    offer->name = kPayloadName;
    offer->size = file.size;
    offer->sha1_base64 = file.sha1;
    offer->sha256_base64 = file.sha256;
    offer->sha256_hex = file.payload->sha256_hex;
    offer->metadata_size = file.payload->metadata_size;
    offer->is_delta = file.payload->is_delta;
    offer->version = file.payload->version;
    *found = true;
  }
  return Status::Ok();
}

// Whether `app` is a DLC or MiniOS app of another app in the request ("<appid>_<dlc-id>",
// "<appid>_minios"): those are never updated from a label, which names a platform image.
bool IsSubApp(const UpdateRequest& request, const omaha::App& app) {
  for (const omaha::App& other : request.apps) {
    if (&other != &app && app.appid.size() > other.appid.size() + 1 &&
        app.appid.compare(0, other.appid.size() + 1, other.appid + "_") == 0) {
      return true;
    }
  }
  return false;
}

// A client's update check repeated unchanged is logged once a minute (per worker).
constexpr int64_t kRepeatWindowUs = 60'000'000;
constexpr size_t kRepeatClients = 100000;

// The client's log entries for this request: each event of a platform app, and each of its
// update checks that is not a repeat.
std::vector<state::OmahaLogEntry> LogEntries(const UpdateRequest& request, const std::string& ip,
                                             int64_t now_us) {
  static omaha::RepeatFilter repeats(kRepeatWindowUs, kRepeatClients);
  std::vector<state::OmahaLogEntry> entries;
  for (const omaha::App& app : request.apps) {
    if (IsSubApp(request, app)) continue;
    state::OmahaLogEntry base;
    base.ip = ip;
    base.at_us = now_us;
    base.version = app.version;
    base.track = app.track;
    base.board = app.board;
    const std::string key = app.appid + "|" + app.version + "|" + app.track + "|" + app.board;
    if (app.update_check && repeats.Admit(ip, key, now_us)) entries.push_back(base);
    for (const omaha::Event& event : app.events) {
      state::OmahaLogEntry e = base;
      e.event_type = event.type;
      e.event_result = event.result;
      e.error_code = event.error_code;
      e.previous_version = event.previous_version;
      entries.push_back(std::move(e));
    }
  }
  return entries;
}

// An event's number as a label value: the protocol's codes are small; anything else a device
// makes up is "other", so that no client can grow the number of series.
std::string EventCode(int64_t code) {
  return code >= 0 && code < 1000 ? std::to_string(code) : "other";
}

void CountEvents(const UpdateRequest& request) {
  for (const omaha::App& app : request.apps) {
    if (IsSubApp(request, app)) continue;
    for (const omaha::Event& event : app.events) {
      metrics::Add(
          metrics::Series("devserver_omaha_events_total",
                          {{"type", EventCode(event.type)}, {"result", EventCode(event.result)}}));
    }
  }
}

// Counts the request's update checks once its answer is known: "error" unless Answered().
class UpdateCheckCount {
 public:
  explicit UpdateCheckCount(const UpdateRequest& request) : request_(request) {}
  ~UpdateCheckCount() {
    // Looked up once: an update check is on the hot path of every device in the lab.
    static metrics::Counter update(Result("update"));
    static metrics::Counter noupdate(Result("noupdate"));
    static metrics::Counter error(Result("error"));
    for (size_t i = 0; i < request_.apps.size(); ++i) {
      const omaha::App& app = request_.apps[i];
      if (!app.update_check || IsSubApp(request_, app)) continue;
      (!answered_ ? error : updates_[i] ? update : noupdate).Add();
    }
  }
  UpdateCheckCount(const UpdateCheckCount&) = delete;
  UpdateCheckCount& operator=(const UpdateCheckCount&) = delete;
  static std::string Result(std::string_view result) {
    return metrics::Series("devserver_omaha_update_checks_total", {{"result", result}});
  }
  void Answered(const std::vector<AppAnswer>& answers) {
    for (const AppAnswer& answer : answers) updates_.push_back(answer.update);
    answered_ = true;
  }

 private:
  const UpdateRequest& request_;
  bool answered_ = false;
  std::vector<bool> updates_;  // per app, in the request's order
};

Status Update(const ServiceInfo& service, const Request& req, Response* response) {
  std::string label;
  if (req.path.size() > std::string(kUpdatePath).size()) {
    label = req.path.substr(std::string(kUpdatePath).size() + 1);  // after "/update/"
    while (!label.empty() && label.back() == '/') label.pop_back();
  }
  LabelTarget target;
  if (!label.empty()) {
    Status s = ParseLabel(label, &target);
    if (!s.ok()) return s;
  }
  std::string body;
  Status s = ReadWholeBody(req, size_t(service.config.omaha_max_request_kib) * 1024, &body);
  if (!s.ok()) return s;
  UpdateRequest request;
  s = ParseUpdateRequest(body, &request);
  if (!s.ok()) return s;

  const std::string ip = ClientIp(req.remote_addr);
  const int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  service.staging->RecordOmaha(LogEntries(request, ip, now_us));
  CountEvents(request);
  UpdateCheckCount checks(request);

  // A label set for this client's next update check wins over the URL's, once. Whether one
  // waits is asked in the same read as the URL label's state, when there is one to read.
  auto take_forced_label = [&]() {
    std::string forced;
    Status taken = service.staging->TakeForcedLabel(ip, &forced);
    if (taken.ok() && !forced.empty() && ParseLabel(forced, &target).ok()) label = forced;
    return taken;
  };
  const bool label_asked = request.HasUpdateCheck() && label.empty();
  if (label_asked) {
    s = take_forced_label();
    if (!s.ok()) return s;
  }

  std::vector<AppAnswer> answers(request.apps.size());
  Offer offer;
  bool have_offer = false;
  bool looked = false;
  for (size_t i = 0; i < request.apps.size(); ++i) {
    const omaha::App& app = request.apps[i];
    if (!app.update_check || label.empty() || IsSubApp(request, app)) continue;
    if (!looked) {
      state::NextUpdateProbe probe{ip};
      s = FindOffer(service, req, target, &offer, &have_offer, label_asked ? nullptr : &probe);
      if (s.ok() && probe.waiting) {
        s = take_forced_label();
        if (s.ok()) s = FindOffer(service, req, target, &offer, &have_offer, nullptr);
      }
      if (!s.ok()) return s;
      looked = true;
    }
    // A client that cannot apply deltas is not offered one.
    answers[i].update = have_offer && (!offer.is_delta || app.delta_okay);
    if (answers[i].update) answers[i].offer = offer;
  }
  *response = Response::Text(RenderUpdateResponse(request, answers, service.env->WallSeconds()));
  response->content_type = "text/xml; charset=utf-8";
  checks.Answered(answers);
  return Status::Ok();
}

}  // namespace

void RegisterUpdateEndpoints(const ServiceInfo& service, Router* router) {
  const std::string doc =
      "POST /update[/<label>]\n\n"
      "The Omaha update server devices are pointed at (update_engine --omaha_url=...). The body "
      "is an Omaha request, protocol 3.0 or 2.0; the answer is in the same protocol, one <app> "
      "per requested app, in order.\n"
      "<label> is a build directory under the static root (eve-release/R119-15633.0.0: its "
      "full payload) or a delta directory in it (.../au/R119-15633.0.0_nton: that delta, "
      "offered only to clients that say delta_okay=\"true\"). A label that is not staged is "
      "staged on demand; the answer comes when it is, or 503 with Retry-After after max_wait. "
      "A label naming no build upstream, DLC and MiniOS apps, and requests without a label "
      "get noupdate. A failed staging of an existing build is a 500 with its cause. Payload "
      "URLs are <[omaha] base_url, else http://X-Forwarded-Host, else Host>/static/<label>/.\n"
      "400 with the reason for a body that is no Omaha request (malformed XML, DOCTYPE or "
      "entity declarations, unknown protocol, no <app>, nesting deeper than 8), a label with "
      "'..', an absolute path or control characters; 413 over [omaha] max_request_kib.\n";
  router->Add({kUpdatePath,
               {"POST"},
               "Omaha update checks and events of devices (no label).",
               doc,
               ServiceHandler(service, Update)});
  router->Add({std::string(kUpdatePath) + "/",
               {"POST"},
               "Omaha update checks and events of devices, for the build or delta <label>.",
               doc,
               ServiceHandler(service, Update)});
}

}  // namespace devserver
