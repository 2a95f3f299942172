// Maps a request path to the endpoint that serves it.
//
// Endpoint groups in api/ add themselves; the router knows nothing about any of them. Each
// endpoint carries its own documentation, so the index page and /doc/<name> can never list
// an endpoint that does not exist or miss one that does.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "fcgi/base/status.h"
#include "fcgi/http/request.h"
#include "fcgi/http/response.h"

namespace devserver {

using Handler = std::function<Status(const Request&, Response*)>;

struct Endpoint {
  std::string path;                  // "/check_health", or a prefix ending in '/': "/doc/"
  std::vector<std::string> methods;  // allowed HTTP methods; HEAD is allowed wherever GET is
  std::string summary;               // one line for the index page
  std::string doc;                   // the text of /doc/<name>: parameters, bodies, errors
  Handler handler;

  bool is_prefix() const { return !path.empty() && path.back() == '/' && path != "/"; }
  // "check_health" for "/check_health"; the name /doc/ knows it by.
  std::string name() const;
};

class Router {
 public:
  void Add(Endpoint endpoint);

  // The endpoint for `path`: an exact match, else the longest matching prefix; or nullptr.
  const Endpoint* Match(const std::string& path) const;
  // Looks an endpoint up by the name /doc/ uses.
  const Endpoint* FindByName(const std::string& name) const;
  const std::vector<Endpoint>& endpoints() const { return endpoints_; }

  // Runs the request through its endpoint. Every outcome is a response: unknown paths,
  // wrong methods, handler errors and handler exceptions included.
  Response Dispatch(const Request& request) const { return Dispatch(request, nullptr); }
  // The same; `*matched` (when given) is the endpoint that served it, nullptr for none.
  Response Dispatch(const Request& request, const Endpoint** matched) const;

 private:
  std::vector<Endpoint> endpoints_;
};

}  // namespace devserver
