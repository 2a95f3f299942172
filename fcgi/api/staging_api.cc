// The staging endpoints of the old devserver: /download, /wait_for_status, /stage, /is_staged.
// Handlers turn query parameters into calls on the worker's StagingService and its answers
// into the literal bodies old clients compare against ("Success", "True", "False").
#include <sstream>

#include "fcgi/api/endpoints.h"
#include "fcgi/api/staging_calls.h"
#include "fcgi/build/artifact_sets.h"
#include "fcgi/staging/staging_service.h"

namespace devserver {
namespace {

using state::ArtifactState;

Status ParseBool(const Request& req, const std::string& name, bool* value) {
  std::string text = req.query.GetOr(name, "");
  if (text == "True" || text == "true" || text == "1") {
    *value = true;
  } else if (text.empty() || text == "False" || text == "false" || text == "0") {
    *value = false;
  } else {
    return Status::InvalidArgument(name + " must be True or False, not '" + text + "'");
  }
  return Status::Ok();
}

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

// artifacts=a,b and files=f1,f2 as artifact names, checked by the plugins that own them (the
// files plugin says which names files= may give), so a bad name is a 400 before anything is
// queued.
Status ParseArtifacts(const ServiceInfo& service, const Request& req,
                      std::vector<std::string>* artifacts) {
  *artifacts = SplitList(req.query.GetOr("artifacts", ""));
  for (const std::string& file : SplitList(req.query.GetOr("files", ""))) {
    artifacts->push_back(FileArtifact(file));
  }
  if (artifacts->empty()) {
    return Status::InvalidArgument("nothing to stage: give artifacts= and/or files=");
  }
  return service.staging->registry().CheckNames(*artifacts);
}

Status Download(const ServiceInfo& service, const Request& req, Response* resp) {
  BuildRef ref;
  Status s = ParseBuild(service, req, &ref);
  if (!s.ok()) return s;
  ArtifactStatuses background;
  s = service.staging->Request(ref, BackgroundArtifacts(), 1, &background);
  if (!s.ok()) return s;
  return StageAndWait(service, req, ref, ForegroundArtifacts(), resp);
}

Status WaitForStatus(const ServiceInfo& service, const Request& req, Response* resp) {
  BuildRef ref;
  Status s = ParseBuild(service, req, &ref);
  if (!s.ok()) return s;
  ArtifactStatuses statuses;
  s = service.staging->Check(ref, BackgroundArtifacts(), &statuses);
  if (!s.ok()) return s;
  // /download queues the whole background set at once: a build where any of it was never
  // asked for (or was cleaned or evicted since) had no /download to wait for. Waiting for the
  // rest would answer for files nobody is staging.
  for (const auto& st : statuses) {
    if (st.state == ArtifactState::kMissing) {
      return Status::Failed("No download for the given archive_url found.");
    }
  }
  if (!AllSettled(statuses)) {
    s = WaitUntilSettled(service, req, ref, BackgroundArtifacts(), &statuses);
    if (!s.ok()) return s;
  }
  s = Outcome(ref, statuses);
  if (s.ok()) *resp = Response::Text("Success");
  return s;
}

Status Stage(const ServiceInfo& service, const Request& req, Response* resp) {
  BuildRef ref;
  std::vector<std::string> artifacts;
  bool async = false;
  bool clean = false;
  Status s = ParseBuild(service, req, &ref);
  if (s.ok()) s = ParseArtifacts(service, req, &artifacts);
  if (s.ok()) s = ParseBool(req, "async", &async);
  if (s.ok()) s = ParseBool(req, "clean", &clean);
  if (s.ok() && clean) s = service.staging->Clean(ref, artifacts);
  if (!s.ok()) return s;
  if (!async) return StageAndWait(service, req, ref, artifacts, resp);
  ArtifactStatuses statuses;
  s = service.staging->Request(ref, artifacts, 0, &statuses);
  if (s.ok()) *resp = Response::Text("Success");
  return s;
}

Status IsStaged(const ServiceInfo& service, const Request& req, Response* resp) {
  BuildRef ref;
  std::vector<std::string> artifacts;
  Status s = ParseBuild(service, req, &ref);
  if (s.ok()) s = ParseArtifacts(service, req, &artifacts);
  ArtifactStatuses statuses;
  if (s.ok()) s = service.staging->Check(ref, artifacts, &statuses);
  if (!s.ok()) return s;
  bool all_staged = true;
  for (const auto& st : statuses) {
    if (st.state == ArtifactState::kFailed) return Status::Failed(st.error);
    all_staged = all_staged && st.state == ArtifactState::kStaged;
  }
  *resp = Response::Text(all_staged ? "True" : "False");
  return Status::Ok();
}

const char* kBuildDoc =
    "  archive_url  gs://<bucket>/<path>/<build> (raw or percent-encoded); the bucket must be\n"
    "               in [storage] allowed_buckets (403 otherwise)\n";
const char* kArtifactsDoc =
    "  artifacts    comma-separated artifact names (full_payload, stateful, delta_payloads, ...)\n"
    "  files        comma-separated plain file names from the build's folder\n";

}  // namespace

void RegisterStagingEndpoints(const ServiceInfo& service, Router* router) {
  router->Add(
      {"/download",
       {"GET"},
       "Stage a build for testing; Success when full_payload, stateful and test_suites are on "
       "disk.",
       std::string("GET /download?archive_url=...\n\n") + kBuildDoc +
           "\nQueues full_payload, stateful and test_suites (foreground) and autotest and "
           "delta_payloads (background), then waits for the foreground set: 'Success' once it is "
           "staged, 500 with the recorded cause if it failed, 503 if it is still staging "
           "after [timeouts] max_wait. Concurrent calls for one build share one download.\n",
       ServiceHandler(service, Download)});
  router->Add(
      {"/wait_for_status",
       {"GET"},
       "Wait for the background artifacts /download started.",
       std::string("GET /wait_for_status?archive_url=...\n\n") + kBuildDoc +
           "\n'Success' once autotest and delta_payloads are staged; 500 with the cause if "
           "it failed; "
           "500 'No download for the given archive_url found.' if the background set was not "
           "asked for (no /download of the build).\n",
       ServiceHandler(service, WaitForStatus)});
  router->Add({"/stage",
               {"GET", "POST"},
               "Stage named artifacts and files of a build.",
               std::string("GET /stage?archive_url=...&artifacts=a,b&files=f1,f2\n\n") + kBuildDoc +
                   kArtifactsDoc +
                   "  async        True: answer 'Success' once queued, without waiting\n"
                   "  clean        True: remove the staged copies of these artifacts first\n"
                   "\n'Success' once every one is staged; 500 with the causes of failures; 400 for "
                   "an unknown artifact name.\n",
               ServiceHandler(service, Stage)});
  router->Add({"/is_staged",
               {"GET"},
               "Whether named artifacts and files of a build are staged and intact.",
               std::string("GET /is_staged?archive_url=...&artifacts=a,b&files=f1,f2\n\n") +
                   kBuildDoc + kArtifactsDoc +
                   "\n'True' if every one is staged and its files are intact on disk, 'False' if "
                   "one is missing or still staging, 500 with the cause if its last attempt "
                   "failed.\n",
               ServiceHandler(service, IsStaged)});
}

}  // namespace devserver
