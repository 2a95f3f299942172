// What one cluster host asks another: GET /peer/object, a staged file that is a storage object
// unchanged, for peer fill (cluster/peer_fill.h). The answer names the file and nginx sends it
// from disk (X-Accel-Redirect to its /static/ location), so the bytes never pass through a
// worker, as for any other staged file.
#include <cstdlib>

#include "fcgi/api/endpoints.h"
#include "fcgi/api/staging_calls.h"
#include "fcgi/storage/http_transport.h"

namespace devserver {
namespace {

Status PeerObject(const ServiceInfo& service, const Request& req, Response* resp) {
  BuildRef ref;
  Status s = ParseBuild(service, req, &ref);
  if (!s.ok()) return s;
  const std::string* object = req.query.Find("object");
  if (object == nullptr) return Status::InvalidArgument("object is required (stateful.tgz)");
  s = CheckRelativePath("object", *object);
  if (!s.ok()) return s;
  int64_t generation = 0;
  if (const std::string* g = req.query.Find("generation"); g != nullptr && !g->empty()) {
    char* end = nullptr;
    generation = std::strtoll(g->c_str(), &end, 10);
    if (*end != '\0' || generation < 0) {
      return Status::InvalidArgument("generation must be a number, not '" + *g + "'");
    }
  }
  state::StagedFile file;
  s = service.staging->FindVerbatimFile(ref.folder, *object, &file);
  if (!s.ok()) return s;
  if (generation != 0 && file.source_generation != generation) {
    return Status::NotFound(ref.archive_url + "/" + *object + ": generation " +
                            std::to_string(file.source_generation) + " is staged, not " +
                            std::to_string(generation));
  }
  resp->status = 200;
  resp->headers.emplace_back(
      "X-Accel-Redirect", "/static/" + storage::PercentEncode(ref.folder + "/" + file.path, "/"));
  resp->headers.emplace_back("X-Devserver-Generation", std::to_string(file.source_generation));
  return Status::Ok();
}

}  // namespace

void RegisterPeerEndpoints(const ServiceInfo& service, Router* router) {
  router->Add({"/peer/object",
               {"GET"},
               "A staged copy of a storage object, for another host of the cluster.",
               "GET /peer/object?archive_url=gs://<bucket>/<path>/<build>&object=<name>"
               "[&generation=N]\n\n"
               "The bytes of the build's object <name> (relative to the build's folder), when a "
               "staged file is that object unchanged (update.gz is the full payload, "
               "stateful.tgz, a files= file), sent by nginx from disk; 404 when none is, or the "
               "staged one is another generation. Cluster hosts ask it of each other before "
               "they fetch from storage, and check the bytes against storage's checksum.\n",
               ServiceHandler(service, PeerObject)});
}

}  // namespace devserver
