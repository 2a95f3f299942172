// The Omaha bookkeeping endpoints lab tools read and set: /api/fileinfo (what an update check
// says about a staged payload), /api/hostinfo and /api/hostlog (what update clients reported),
// /api/setnextupdate (the label of a client's next update check). The client is named by
// ?ip=<ip> or /<ip>.
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <map>
#include <sstream>

#include "fcgi/api/endpoints.h"
#include "fcgi/api/omaha_clients.h"
#include "fcgi/build/build_ref.h"
#include "fcgi/http/read_body.h"
#include "fcgi/staging/staging_service.h"

namespace devserver {
namespace {

constexpr const char* kFileInfoPrefix = "/api/fileinfo/";
constexpr size_t kMaxLabelBytes = 1024;

std::string Stringify(const Poco::JSON::Object& object) {
  std::ostringstream out;
  object.stringify(out);
  return out.str();
}

// The ip of /api/<name>/<ip> or /api/<name>?ip=<ip>; "all" passes when `all_ok`.
Status ClientOf(const Request& req, const std::string& endpoint, bool all_ok, std::string* ip) {
  std::string raw;
  if (req.path.size() > endpoint.size() + 1) {
    raw = req.path.substr(endpoint.size() + 1);
  } else if (const std::string* q = req.query.Find("ip")) {
    raw = *q;
  } else {
    return Status::InvalidArgument("ip is required: " + endpoint + "/<ip> or " + endpoint +
                                   "?ip=<ip>");
  }
  if (all_ok && raw == "all") {
    ip->clear();
    return Status::Ok();
  }
  return ParseClientIp(raw, ip);
}

Status FileInfo(const ServiceInfo& service, const Request& req, Response* response) {
  const std::string path = req.path.substr(std::string(kFileInfoPrefix).size());
  Status s = CheckRelativePath("path", path);
  if (!s.ok()) return s;
  state::StagedFile file;
  bool found = false;
  s = service.staging->FileAt(path, &file, &found);
  if (!s.ok()) return s;
  if (!found) return Status::NotFound(path + " is not a staged file");
  if (!file.payload) {
    return Status::NotFound(path + " is staged but is no update payload: its hashes are not kept");
  }
  Poco::JSON::Object info(Poco::JSON_PRESERVE_KEY_ORDER);
  info.set("size", file.size);
  info.set("sha1", file.sha1);
  info.set("sha256", file.sha256);
  info.set("is_delta", file.payload->is_delta);
  *response = Response::Json(Stringify(info));
  return Status::Ok();
}

Status HostInfo(const ServiceInfo& service, const Request& req, Response* response) {
  std::string ip;
  Status s = ClientOf(req, "/api/hostinfo", false, &ip);
  if (!s.ok()) return s;
  state::OmahaClient client;
  bool found = false;
  s = service.staging->GetOmahaClient(ip, &client, &found);
  if (!s.ok()) return s;
  Poco::JSON::Object info(Poco::JSON_PRESERVE_KEY_ORDER);
  if (found) {
    info.set("last_known_version", client.last_known_version);
    if (client.last_event_type) info.set("last_event_type", *client.last_event_type);
    if (client.last_event_status) info.set("last_event_status", *client.last_event_status);
    if (!client.forced_update_label.empty()) {
      info.set("forced_update_label", client.forced_update_label);
    }
  }
  *response = Response::Json(Stringify(info));
  return Status::Ok();
}

Poco::JSON::Object::Ptr EntryJson(const state::OmahaLogEntry& e) {
  Poco::JSON::Object::Ptr entry = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
  entry->set("timestamp", e.at_us / 1000000);
  entry->set("version", e.version);
  entry->set("track", e.track);
  entry->set("board", e.board);
  if (e.event_type) {
    entry->set("event_type", *e.event_type);
    entry->set("event_result", e.event_result.value_or(0));
    if (e.error_code) entry->set("error_code", *e.error_code);
    if (!e.previous_version.empty()) entry->set("previous_version", e.previous_version);
  } else {
    entry->set("update_check", true);
  }
  return entry;
}

Status HostLog(const ServiceInfo& service, const Request& req, Response* response) {
  std::string ip;
  Status s = ClientOf(req, "/api/hostlog", true, &ip);
  if (!s.ok()) return s;
  std::vector<state::OmahaLogEntry> entries;
  s = service.staging->GetOmahaLog(ip, &entries);
  if (!s.ok()) return s;
  std::ostringstream out;
  if (!ip.empty()) {
    Poco::JSON::Array list;
    for (const state::OmahaLogEntry& e : entries) list.add(EntryJson(e));
    list.stringify(out);
  } else {
    std::map<std::string, Poco::JSON::Array::Ptr> by_ip;
    for (const state::OmahaLogEntry& e : entries) {
      Poco::JSON::Array::Ptr& list = by_ip[e.ip];
      if (list.isNull()) list = new Poco::JSON::Array;
      list->add(EntryJson(e));
    }
    Poco::JSON::Object all;
    for (const auto& [client, list] : by_ip) all.set(client, list);
    all.stringify(out);
  }
  *response = Response::Json(out.str());
  return Status::Ok();
}

Status SetNextUpdate(const ServiceInfo& service, const Request& req, Response* response) {
  std::string ip;
  Status s = ClientOf(req, "/api/setnextupdate", false, &ip);
  if (!s.ok()) return s;
  std::string label;
  s = ReadWholeBody(req, kMaxLabelBytes, &label);
  if (!s.ok()) return s;
  while (!label.empty() && (label.back() == '\n' || label.back() == '/')) label.pop_back();
  if (label.empty()) return Status::InvalidArgument("No label provided.");
  s = CheckRelativePath("label", label);
  if (!s.ok()) return s;
  s = service.staging->SetForcedLabel(ip, label);
  if (!s.ok()) return s;
  *response = Response::Text("Success");
  return Status::Ok();
}

// Registers `path` and `path/` (the ip in the path, or in ?ip=) with the same handler.
void AddClientEndpoint(const ServiceInfo& service, Router* router, const std::string& path,
                       std::vector<std::string> methods, const std::string& summary,
                       const std::string& doc, ServiceHandlerFn handler) {
  router->Add({path, methods, summary, doc, ServiceHandler(service, handler)});
  router->Add({path + "/", std::move(methods), summary, doc, ServiceHandler(service, handler)});
}

}  // namespace

void RegisterOmahaEndpoints(const ServiceInfo& service, Router* router) {
  router->Add({kFileInfoPrefix,
               {"GET"},
               "What an update check says about a staged payload: size and hashes.",
               "GET /api/fileinfo/<path under the static root>\n\n"
               "For an update payload (a full payload's update.gz, a delta's "
               "au/<build>_nton/update.gz), the facts recorded when it was staged, as JSON:\n"
               "  size      bytes\n"
               "  sha1      SHA-1, base64\n"
               "  sha256    SHA-256, base64\n"
               "  is_delta  whether it is a delta payload\n"
               "404 for a path that is not staged, or a staged file that is no payload.\n",
               ServiceHandler(service, FileInfo)});
  AddClientEndpoint(service, router, "/api/hostinfo", {"GET"},
                    "What an update client last reported, and its next forced label.",
                    "GET /api/hostinfo/<ip>  or  GET /api/hostinfo?ip=<ip>\n\n"
                    "JSON of the client's attributes: last_known_version, last_event_type, "
                    "last_event_status, forced_update_label (each only when known). An unknown "
                    "client: {}. An IPv4-mapped IPv6 address is its IPv4 address.\n",
                    HostInfo);
  AddClientEndpoint(service, router, "/api/hostlog", {"GET"},
                    "An update client's log of events and update checks.",
                    "GET /api/hostlog/<ip>  or  GET /api/hostlog?ip=<ip>  (ip=all: everyone)\n\n"
                    "A JSON list, oldest first, of the client's update checks (update_check: "
                    "true; one repeated unchanged is logged once a minute) and events (event_type, "
                    "event_result, error_code, "
                    "previous_version), each with timestamp (Unix seconds), version, track and "
                    "board. With ip=all an object of such lists by ip. At most 100 entries a "
                    "client and 100000 in all are kept. Workers write entries in batches; this "
                    "call (and /api/hostinfo) waits 0.3 s for the others' batches, so it "
                    "includes every request answered before it.\n",
                    HostLog);
  AddClientEndpoint(service, router, "/api/setnextupdate", {"POST"},
                    "Set the label of a client's next update check.",
                    "POST /api/setnextupdate/<ip>  or  POST /api/setnextupdate?ip=<ip>\n\n"
                    "The body is a label (as in /update/<label>). The client's next update check "
                    "is answered for that label instead of its URL's, once; requests with only "
                    "events or pings leave it set. Empty body: 400 No label provided.\n",
                    SetNextUpdate);
}

}  // namespace devserver
