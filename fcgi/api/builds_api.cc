// What is staged, by build: /latestbuild (the newest staged build of a target) and
// /list_image_dir (the files of one staged build).
#include <time.h>

#include <cctype>

#include "fcgi/api/endpoints.h"
#include "fcgi/api/staging_calls.h"
#include "fcgi/base/log.h"
#include "fcgi/build/build_tree.h"
#include "fcgi/build/build_version.h"
#include "fcgi/cluster/peer_query.h"
#include "fcgi/storage/http_transport.h"

namespace devserver {
namespace {

constexpr size_t kMaxListedEntries = 200000;

bool IsMilestone(const std::string& text) {
  if (text.size() < 2 || text[0] != 'R' || text.size() > 8) return false;
  for (size_t i = 1; i < text.size(); ++i) {
    if (std::isdigit(static_cast<unsigned char>(text[i])) == 0) return false;
  }
  return true;
}

Status LatestBuild(const ServiceInfo& service, const Request& req, Response* resp) {
  const std::string* target = req.query.Find("target");
  if (target == nullptr) return Status::InvalidArgument("target is required (x86-alex-release)");
  Status s = CheckRelativePath("target", *target);
  if (!s.ok()) return s;
  const std::string milestone = req.query.GetOr("milestone", "");
  if (!milestone.empty() && !IsMilestone(milestone)) {
    return Status::InvalidArgument("milestone must look like R19, not '" + milestone + "'");
  }
  std::vector<std::string> builds;
  s = service.staging->StagedBuilds(*target, &builds);
  if (!s.ok()) return s;
  // In a cluster a target's builds are spread over the hosts (each build has its owner): each
  // peer says which of its own is newest, and the newest of those is the cluster's.
  const bool local_only = req.query.GetOr("scope", "") == "local";
  if (!service.config.cluster_peers.empty() && !local_only) {
    const std::string question =
        "/latestbuild?scope=local&target=" + storage::PercentEncode(*target) +
        (milestone.empty() ? "" : "&milestone=" + milestone);
    for (const PeerAnswer& answer :
         AskEveryPeer(service.config.cluster_peers, service.config.cluster_self, question)) {
      std::string name = answer.body;
      while (!name.empty() && (name.back() == '\n' || name.back() == '\r')) name.pop_back();
      if (answer.status == 200 && !name.empty() && name.find('/') == std::string::npos &&
          CheckRelativePath("build", name).ok()) {
        builds.push_back(name);
      } else if (answer.status == 0) {
        DS_LOG(kWarning) << "/latestbuild: peer " << answer.peer.Public()
                         << " left out: " << answer.error;
      }
    }
  }
  std::string newest = NewestBuild(builds, milestone);
  if (newest.empty()) {
    return Status::Failed("no staged build of " + *target +
                          (milestone.empty() ? "" : " in milestone " + milestone));
  }
  *resp = Response::Text(newest);
  return Status::Ok();
}

std::string UtcTime(int64_t seconds) {
  time_t t = static_cast<time_t>(seconds);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[32];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return std::string(buf, n);
}

Status ListImageDir(const ServiceInfo& service, const Request& req, Response* resp) {
  BuildRef ref;
  Status s = ParseBuild(service, req, &ref);
  if (!s.ok()) return s;
  std::vector<TreeEntry> entries;
  s = ListTree(BuildDir(service, ref.folder), kMaxListedEntries, &entries);
  if (s.code() == Status::Code::kNotFound) {
    return Status::Failed(ref.archive_url + ": nothing is staged for this build");
  }
  if (!s.ok()) return s;
  // Reading a build counts as using it: eviction takes it last.
  (void)service.staging->MarkUsed(ref.folder);
  std::string body = "static/" + ref.folder + "/ (" + ref.archive_url + ")\n";
  for (const TreeEntry& e : entries) {
    body += e.path;
    if (e.type == 'f') body += "\t" + std::to_string(e.size);
    if (e.type == 'l') body += " -> " + e.link_target;
    body += "\t" + UtcTime(e.mtime) + " UTC\n";
  }
  *resp = Response::Text(std::move(body));
  return Status::Ok();
}

}  // namespace

void RegisterBuildsEndpoints(const ServiceInfo& service, Router* router) {
  router->Add({"/latestbuild",
               {"GET"},
               "The newest staged build of a target.",
               "GET /latestbuild?target=<target>[&milestone=R19][&scope=local]\n\n"
               "The name of the newest build of the target with something staged, in version "
               "order (R19-2003.0.0-a1-b1819 > R19-1999.0.0-a1-b1800 > R18-...); 500 when there "
               "is none.\n\n"
               "In cluster mode the answer covers every host: each peer is asked for its own "
               "newest (scope=local, which answers for this host alone), in parallel; a peer "
               "that has not answered within about 3 s is left out.\n",
               ServiceHandler(service, LatestBuild)});
  router->Add({"/list_image_dir",
               {"GET"},
               "List the files of a staged build.",
               "GET /list_image_dir?archive_url=...\n\n"
               "One line per entry of the build's directory under the static root: path, "
               "size (files), link target (links), modification time (UTC).\n",
               ServiceHandler(service, ListImageDir)});
}

}  // namespace devserver
