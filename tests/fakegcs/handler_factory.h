// Routes each request to the GCS or control handler, and logs what nobody handles.
#pragma once

#include <Poco/Net/HTTPRequestHandlerFactory.h>

#include "tests/fakegcs/server_state.h"

namespace devserver::fakegcs {

class HandlerFactory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  explicit HandlerFactory(ServerState& state) : state_(state) {}

  Poco::Net::HTTPRequestHandler* createRequestHandler(
      const Poco::Net::HTTPServerRequest& request) override;

 private:
  ServerState& state_;
};

}  // namespace devserver::fakegcs
