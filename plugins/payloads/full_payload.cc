#include <fnmatch.h>

#include "plugins/payloads/payload_artifacts.h"

namespace devserver::payloads {
namespace {

constexpr const char* kFullPattern = "chromeos_*_full_*.bin";

}  // namespace

Status ResolveFullPayload(const plugin::BuildFolder& folder, std::vector<std::string>* objects) {
  std::vector<std::string> matches;
  for (const std::string& name : folder.object_names) {
    // FNM_PATHNAME: a payload in a subfolder is some other build's business.
    if (fnmatch(kFullPattern, name.c_str(), FNM_PATHNAME) == 0) matches.push_back(name);
  }
  if (matches.empty()) {
    return Status::NotFound(std::string(kFullPayload) + ": no object matches " + kFullPattern +
                            " in " + folder.url);
  }
  if (matches.size() > 1) {
    std::string list;
    for (const std::string& name : matches) list += (list.empty() ? "" : ", ") + name;
    return Status::Failed(std::string(kFullPayload) + ": " + std::to_string(matches.size()) +
                          " objects match " + kFullPattern + " in " + folder.url +
                          ", expected one: " + list);
  }
  *objects = std::move(matches);
  return Status::Ok();
}

Status InstallFullPayload(plugin::InstallContext& ctx) {
  std::vector<std::string> objects;
  Status resolved = ResolveFullPayload(ctx.folder(), &objects);
  if (!resolved.ok()) return resolved;
  Status placed = ctx.PlaceFetched(objects.front(), "update.gz");
  if (!placed.ok()) return placed;
  return ctx.DeclarePayload("update.gz", /*is_delta=*/false);
}

}  // namespace devserver::payloads
