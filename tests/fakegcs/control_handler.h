// /_fake/...: the test-facing side of the fake (counters, reset, fault injection).
#pragma once

#include <Poco/Net/HTTPRequestHandler.h>

#include "tests/fakegcs/server_state.h"

namespace devserver::fakegcs {

class ControlHandler : public Poco::Net::HTTPRequestHandler {
 public:
  explicit ControlHandler(ServerState& state) : state_(state) {}

  void handleRequest(Poco::Net::HTTPServerRequest& request,
                     Poco::Net::HTTPServerResponse& response) override;

 private:
  ServerState& state_;
};

}  // namespace devserver::fakegcs
