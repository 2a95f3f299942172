#include "fcgi/http/router.h"

#include <algorithm>
#include <exception>

#include "fcgi/base/log.h"
#include "fcgi/http/error_response.h"

namespace devserver {

std::string Endpoint::name() const {
  std::string n = path.substr(1);
  if (!n.empty() && n.back() == '/') n.pop_back();
  return n;
}

void Router::Add(Endpoint endpoint) { endpoints_.push_back(std::move(endpoint)); }

const Endpoint* Router::Match(const std::string& path) const {
  const Endpoint* best = nullptr;
  for (const Endpoint& e : endpoints_) {
    if (e.path == path) return &e;
    if (e.is_prefix() && path.size() > e.path.size() &&
        path.compare(0, e.path.size(), e.path) == 0) {
      if (best == nullptr || e.path.size() > best->path.size()) best = &e;
    }
  }
  return best;
}

const Endpoint* Router::FindByName(const std::string& name) const {
  for (const Endpoint& e : endpoints_) {
    if (e.name() == name) return &e;
  }
  return nullptr;
}

Response Router::Dispatch(const Request& request, const Endpoint** matched) const {
  const Endpoint* endpoint = Match(request.path);
  if (matched != nullptr) *matched = endpoint;
  if (endpoint == nullptr) {
    return ErrorResponse(Status::NotFound("no endpoint " + request.path));
  }
  const auto& m = endpoint->methods;
  bool allowed = std::find(m.begin(), m.end(), request.method) != m.end() ||
                 (request.method == "HEAD" && std::find(m.begin(), m.end(), "GET") != m.end());
  if (!allowed) {
    std::string list;
    for (const auto& method : m) list += (list.empty() ? "" : ", ") + method;
    Response r = ErrorResponse(Status::MethodNotAllowed(
        "method " + request.method + " not allowed for " + endpoint->path + "; use " + list));
    r.headers.emplace_back("Allow", list);
    return r;
  }
  Response response;
  Status status;
  try {
    status = endpoint->handler(request, &response);
  } catch (const std::exception& e) {
    // A handler bug must cost one request, never the worker and its other requests.
    DS_LOG(kError) << request.method << " " << request.path
                   << ": unexpected exception: " << e.what();
    status = Status::Failed(std::string("internal error: ") + e.what());
  }
  if (!status.ok()) return ErrorResponse(status);
  return response;
}

}  // namespace devserver
