// `/`, the human front page, and /doc/<endpoint>, each endpoint's documentation.
#include <string>

#include "fcgi/api/endpoints.h"
#include "fcgi/base/markup_escape.h"
#include "fcgi/staging/staging_service.h"
#include "generated/version.h"

namespace devserver {
namespace {

constexpr int kIndexBuilds = 100;

// One cell per artifact: its state, a progress bar while staging, the cause when failed.
std::string RenderArtifact(const state::ArtifactStatus& a) {
  std::string cell = "<td>" + EscapeMarkup(a.artifact) + ": " + state::ArtifactStateName(a.state);
  if (a.state == state::ArtifactState::kStaging && a.bytes_total.has_value() &&
      *a.bytes_total > 0) {
    cell += " <progress value=\"" + std::to_string(a.bytes_done) + "\" max=\"" +
            std::to_string(*a.bytes_total) + "\"></progress> " +
            std::to_string(a.bytes_done * 100 / *a.bytes_total) + "%";
  }
  if (a.state == state::ArtifactState::kFailed) cell += " <em>" + EscapeMarkup(a.error) + "</em>";
  return cell + "</td>";
}

std::string RenderBuilds(const ServiceInfo& service) {
  std::vector<state::BuildOverview> builds;
  Status s = service.staging->RecentBuilds(kIndexBuilds, &builds);
  if (!s.ok()) return "<p>Builds unavailable: " + EscapeMarkup(s.message()) + "</p>\n";
  std::string html = "<h2>Builds (most recently used first)</h2>\n<table>\n";
  for (const state::BuildOverview& b : builds) {
    html += "<tr><td><a href=\"/static/" + EscapeMarkup(b.build) + "/\">" + EscapeMarkup(b.build) +
            "</a></td>";
    for (const state::ArtifactStatus& a : b.artifacts) html += RenderArtifact(a);
    html += "</tr>\n";
  }
  return html + "</table>\n";
}

std::string RenderIndex(const ServiceInfo& service, const Router& router) {
  std::string html =
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>devserver</title></head>\n"
      "<body>\n<h1>devserver " +
      std::string(kDevserverVersion) + "</h1>\n" + RenderBuilds(service) +
      "<h2>Endpoints</h2>\n<table>\n";
  for (const Endpoint& e : router.endpoints()) {
    if (e.path == "/") continue;
    std::string name = EscapeMarkup(e.name());
    html += "<tr><td><a href=\"/doc/" + name + "\">" + EscapeMarkup(e.path) + "</a></td><td>" +
            EscapeMarkup(e.summary) + "</td></tr>\n";
  }
  html += "</table>\n<p>Staged files: <a href=\"/static/\">/static/</a></p>\n</body></html>\n";
  return html;
}

}  // namespace

void RegisterIndexEndpoints(const ServiceInfo& service, Router* router) {
  const Router* routes = router;  // outlives every request: the worker owns it until exit
  router->Add({"/doc/",
               {"GET"},
               "Documentation of one endpoint: /doc/<name>.",
               "GET /doc/<name>\n\nThe documentation of endpoint <name> as plain text; 404 for "
               "an unknown name.\n",
               [routes](const Request& req, Response* resp) {
                 std::string name = req.path.substr(std::string("/doc/").size());
                 const Endpoint* e = routes->FindByName(name);
                 if (e == nullptr || e->path == "/") {
                   return Status::NotFound("no endpoint named '" + name + "'");
                 }
                 *resp = Response::Text(e->doc);
                 return Status::Ok();
               }});
  router->Add({"/",
               {"GET"},
               "This page: recent builds with each artifact's state, and the endpoints.",
               "GET /\n\nAn HTML page: the most recently used builds, each artifact's state "
               "(a progress bar while staging, the cause when failed), and every endpoint.\n",
               [routes, &service](const Request&, Response* resp) {
                 *resp = Response::Html(RenderIndex(service, *routes));
                 return Status::Ok();
               }});
}

}  // namespace devserver
