// The GCS JSON API subset: bucket get, objects list, object metadata and media download.
#pragma once

#include <Poco/Net/HTTPRequestHandler.h>

#include <optional>
#include <string>

#include "tests/fakegcs/server_state.h"

namespace devserver::fakegcs {

struct GcsRoute {
  enum class Kind { kBucket, kList, kObject };
  Kind kind = Kind::kBucket;
  bool download_path = false;  // /download/storage/v1/...: always media.
  std::string bucket;
  std::string object;
};

// Parses the raw (still percent-encoded) request path; nullopt if it is not a GCS route.
std::optional<GcsRoute> ParseGcsPath(const std::string& raw_path);

class GcsHandler : public Poco::Net::HTTPRequestHandler {
 public:
  GcsHandler(ServerState& state, GcsRoute route) : state_(state), route_(std::move(route)) {}

  void handleRequest(Poco::Net::HTTPServerRequest& request,
                     Poco::Net::HTTPServerResponse& response) override;

 private:
  void HandleBucket(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response);
  void HandleList(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response);
  void HandleMetadata(Poco::Net::HTTPServerRequest& request,
                      Poco::Net::HTTPServerResponse& response);
  void HandleMedia(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response);

  // Applies the delay and status of `plan`; true if the request has been answered (or abandoned).
  bool ApplyPreludeFaults(const FaultPlan& plan, Poco::Net::HTTPServerResponse& response);

  ServerState& state_;
  GcsRoute route_;
};

}  // namespace devserver::fakegcs
