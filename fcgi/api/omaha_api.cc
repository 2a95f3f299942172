// The Omaha bookkeeping endpoints update clients and lab tools read: /api/fileinfo (what an
// update check says about a staged payload).
#include <Poco/JSON/Object.h>

#include <sstream>

#include "fcgi/api/endpoints.h"
#include "fcgi/build/build_ref.h"
#include "fcgi/staging/staging_service.h"

namespace devserver {
namespace {

constexpr const char* kFileInfoPrefix = "/api/fileinfo/";

Status FileInfo(const ServiceInfo& service, const Request& req, Response* response) {
  const std::string path = req.path.substr(std::string(kFileInfoPrefix).size());
  Status s = CheckRelativePath("path", path);
  if (!s.ok()) return s;
  state::StagedFile file;
  bool found = false;
  s = service.staging->FileAt(path, &file, &found);
  if (!s.ok()) return s;
  if (!found) return Status::NotFound(path + " is not a staged file");
  if (!file.payload) {
    return Status::NotFound(path + " is staged but is no update payload: its hashes are not kept");
  }
  Poco::JSON::Object info(Poco::JSON_PRESERVE_KEY_ORDER);
  info.set("size", file.size);
  info.set("sha1", file.sha1);
  info.set("sha256", file.sha256);
  info.set("is_delta", file.payload->is_delta);
  std::ostringstream out;
  info.stringify(out);
  *response = Response::Json(out.str());
  return Status::Ok();
}

}  // namespace

void RegisterOmahaEndpoints(const ServiceInfo& service, Router* router) {
  router->Add({kFileInfoPrefix,
               {"GET"},
               "What an update check says about a staged payload: size and hashes.",
               "GET /api/fileinfo/<path under the static root>\n\n"
               "For an update payload (a full payload's update.gz, a delta's "
               "au/<build>_nton/update.gz), the facts recorded when it was staged, as JSON:\n"
               "  size      bytes\n"
               "  sha1      SHA-1, base64\n"
               "  sha256    SHA-256, base64\n"
               "  is_delta  whether it is a delta payload\n"
               "404 for a path that is not staged, or a staged file that is no payload.\n",
               ServiceHandler(service, FileInfo)});
}

}  // namespace devserver
