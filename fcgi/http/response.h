// One HTTP response as handlers produce it. Bodies are small (status words, JSON, listings):
// staged files are served by nginx, never through this type.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace devserver {

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  static Response Text(std::string body) {
    Response r;
    r.body = std::move(body);
    return r;
  }
  static Response Json(std::string body) {
    Response r;
    r.content_type = "application/json";
    r.body = std::move(body);
    return r;
  }
  static Response Html(std::string body) {
    Response r;
    r.content_type = "text/html; charset=utf-8";
    r.body = std::move(body);
    return r;
  }
};

}  // namespace devserver
