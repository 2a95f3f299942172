#include <algorithm>

#include "plugins/payloads/payload_artifacts.h"

namespace devserver::payloads {
namespace {

constexpr const char* kStatefulObject = "stateful.tgz";

}  // namespace

Status ResolveStateful(const plugin::BuildFolder& folder, std::vector<std::string>* objects) {
  const auto& names = folder.object_names;
  if (std::find(names.begin(), names.end(), kStatefulObject) == names.end()) {
    return Status::NotFound(std::string(kStateful) + ": no object " + kStatefulObject + " in " +
                            folder.url);
  }
  *objects = {kStatefulObject};
  return Status::Ok();
}

Status InstallStateful(plugin::InstallContext& ctx) {
  return ctx.PlaceFetched(kStatefulObject, kStatefulObject);
}

}  // namespace devserver::payloads
