// /debug/*: endpoints the test suite drives; registered only with [server] test_endpoints.
#include <chrono>
#include <thread>

#include "fcgi/api/endpoints.h"
#include "fcgi/base/log.h"

namespace devserver {

void RegisterDebugEndpoints(const ServiceInfo&, Router* router) {
  router->Add({"/debug/echo",
               {"GET", "POST"},
               "Test only: echoes the decoded query parameters.",
               "GET /debug/echo?k=v...\n\nOne line 'name=value' per decoded parameter, in order.\n",
               [](const Request& req, Response* resp) {
                 std::string body;
                 for (const auto& [name, value] : req.query.all())
                   body += name + "=" + value + "\n";
                 *resp = Response::Text(body);
                 return Status::Ok();
               }});
  router->Add({"/debug/sleep",
               {"GET"},
               "Test only: answers after ms milliseconds.",
               "GET /debug/sleep?ms=N\n\nSleeps N milliseconds (at most 600000), then answers "
               "'slept N'.\n",
               [](const Request& req, Response* resp) {
                 std::string ms_text = req.query.GetOr("ms", "0");
                 char* end = nullptr;
                 long ms = std::strtol(ms_text.c_str(), &end, 10);
                 if (*end != '\0' || ms < 0 || ms > 600000) {
                   return Status::InvalidArgument("ms must be 0..600000");
                 }
                 // Tests wait for this line to know the request is in flight.
                 DS_LOG(kInfo) << "debug/sleep: sleeping " << ms << " ms";
                 std::this_thread::sleep_for(std::chrono::milliseconds(ms));
                 *resp = Response::Text("slept " + std::to_string(ms));
                 return Status::Ok();
               }});
}

}  // namespace devserver
