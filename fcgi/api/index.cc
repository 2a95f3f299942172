// `/`, the human front page, and /doc/<endpoint>, each endpoint's documentation.
#include <string>

#include "fcgi/api/endpoints.h"
#include "generated/version.h"

namespace devserver {
namespace {

std::string HtmlEscape(const std::string& in) {
  std::string out;
  for (char c : in) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string RenderIndex(const Router& router) {
  std::string html =
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>devserver</title></head>\n"
      "<body>\n<h1>devserver " +
      std::string(kDevserverVersion) + "</h1>\n<h2>Endpoints</h2>\n<table>\n";
  for (const Endpoint& e : router.endpoints()) {
    if (e.path == "/") continue;
    std::string name = HtmlEscape(e.name());
    html += "<tr><td><a href=\"/doc/" + name + "\">" + HtmlEscape(e.path) + "</a></td><td>" +
            HtmlEscape(e.summary) + "</td></tr>\n";
  }
  html += "</table>\n<p>Staged files: <a href=\"/static/\">/static/</a></p>\n</body></html>\n";
  return html;
}

}  // namespace

void RegisterIndexEndpoints(const ServiceInfo&, Router* router) {
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
               "This page.",
               "GET /\n\nAn HTML page listing every endpoint.\n",
               [routes](const Request&, Response* resp) {
                 *resp = Response::Html(RenderIndex(*routes));
                 return Status::Ok();
               }});
}

}  // namespace devserver
