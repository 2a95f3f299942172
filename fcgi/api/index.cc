// `/`, the human front page, and /doc/<endpoint>, each endpoint's documentation.
#include <string>

#include "fcgi/api/endpoints.h"
#include "fcgi/api/status_page.h"
#include "fcgi/api/status_page_script.h"
#include "fcgi/api/status_report.h"
#include "fcgi/base/markup_escape.h"
#include "generated/version.h"

namespace devserver {
namespace {

// The status sections come first: the page is one an operator leaves open.
std::string RenderStatus(const ServiceInfo& service) {
  StatusReport report;
  Status s = CollectStatus(service, &report);
  if (!s.ok()) return "<p>Status unavailable: " + EscapeMarkup(s.message()) + "</p>\n";
  return RenderStatusSections(report) + "<script>" + kStatusPageScript + "</script>\n";
}

std::string RenderIndex(const ServiceInfo& service, const Router& router) {
  std::string html =
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>devserver</title><style>" +
      std::string(kStatusPageStyle) + "</style></head>\n<body>\n<h1>devserver " +
      kDevserverVersion + "</h1>\n" + RenderStatus(service) + "<h2>Endpoints</h2>\n<table>\n";
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
               "This page: live status (builds, progress, queue, disk) and the endpoints.",
               "GET /\n\nAn HTML page an operator can leave open: free disk and the cache "
               "against the [cache] budget; the most recently used builds with each "
               "artifact's state, a progress bar with bytes, rate and ETA while staging, and "
               "the cause when failed; the queue; the recent update client events when there "
               "are any; and every endpoint. A small inline script (no external resources) "
               "updates it in place every second from /api/status; without JavaScript it is "
               "the same tables as of the request.\n",
               [routes, &service](const Request&, Response* resp) {
                 *resp = Response::Html(RenderIndex(service, *routes));
                 return Status::Ok();
               }});
}

}  // namespace devserver
