#include "plugins/bundle/bundle_plugin.h"

#include <algorithm>

namespace devserver::bundle {

std::vector<plugin::ArtifactSpec> BundlePlugin::Artifacts() const {
  std::vector<plugin::ArtifactSpec> specs;
  for (const BundledArtifact& a : artifacts_) specs.push_back({a.name, a.summary});
  return specs;
}

const BundledArtifact* BundlePlugin::Find(const std::string& artifact) const {
  for (const BundledArtifact& a : artifacts_) {
    if (a.name == artifact) return &a;
  }
  return nullptr;
}

Status BundlePlugin::NotOurs(const std::string& artifact) const {
  return Status::InvalidArgument(name_ + ": no artifact '" + artifact + "' in this plugin");
}

Status BundlePlugin::Resolve(const std::string& artifact, const plugin::BuildFolder& folder,
                             std::vector<std::string>* objects) const {
  const BundledArtifact* a = Find(artifact);
  if (a == nullptr) return NotOurs(artifact);
  const auto& names = folder.object_names;
  for (const std::string& object : a->objects) {
    if (std::find(names.begin(), names.end(), object) != names.end()) {
      *objects = {object};
      return Status::Ok();
    }
  }
  std::string wanted;
  for (const std::string& object : a->objects) wanted += (wanted.empty() ? "" : " or ") + object;
  return Status::NotFound(artifact + ": no object " + wanted + " in " + folder.url);
}

Status BundlePlugin::Install(const std::string& artifact, plugin::InstallContext& ctx) const {
  const BundledArtifact* a = Find(artifact);
  if (a == nullptr) return NotOurs(artifact);
  // The same folder snapshot as Resolve, so this names the object that was fetched.
  std::vector<std::string> objects;
  Status s = Resolve(artifact, ctx.folder(), &objects);
  if (!s.ok()) return s;
  // The extractor's message names the archive and the member; the core adds the artifact.
  return ctx.Extract({objects.front(), a->include, a->exclude});
}

}  // namespace devserver::bundle
