// Which GCS endpoint the store talks to, following the variables Google's client libraries
// honour, so the same environment points gcloud, gsutil and devserver at one emulator.
#include <cstdlib>
#include <string>

#include "fcgi/storage/gcs_store.h"
#include "fcgi/storage/http_transport.h"

namespace devserver::storage {
namespace {

constexpr char kProductionEndpoint[] = "https://storage.googleapis.com";

std::string EnvironmentValue(const char* name) {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): documented to run at start-up, before any thread.
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

// Accepts "host:port" (the emulator convention) as well as URLs; drops trailing slashes.
Status Normalize(std::string url, const std::string& source, std::string* endpoint) {
  if (url.find("://") == std::string::npos) url = "http://" + url;
  while (url.size() > 1 && url.back() == '/') url.pop_back();
  HttpEndpoint parsed;
  std::string target;
  Status s = ParseHttpUrl(url, &parsed, &target);
  if (!s.ok()) return Status::InvalidArgument(source + ": " + s.message());
  if (target.find('?') != std::string::npos) {
    return Status::InvalidArgument(source + ": endpoint '" + url + "' must not have a query");
  }
  *endpoint = url;
  return Status::Ok();
}

}  // namespace

Status ResolveGcsEndpoint(const std::string& configured, std::string* endpoint, bool* is_emulator) {
  *is_emulator = false;
  if (!configured.empty()) {
    if (configured.find("://") == std::string::npos) {
      return Status::InvalidArgument("gcs endpoint '" + configured +
                                     "' must be an http:// or https:// URL");
    }
    return Normalize(configured, "gcs endpoint", endpoint);
  }
  for (const char* name : {"STORAGE_EMULATOR_HOST", "CLOUD_STORAGE_EMULATOR_ENDPOINT"}) {
    const std::string value = EnvironmentValue(name);
    if (value.empty()) continue;
    *is_emulator = true;
    return Normalize(value, name, endpoint);
  }
  *endpoint = kProductionEndpoint;
  return Status::Ok();
}

}  // namespace devserver::storage
