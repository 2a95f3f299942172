#include "plugins/files/files_plugin.h"

#include <algorithm>

#include "fcgi/base/reason_text.h"

#include "plugins/files/file_name.h"

namespace devserver::files {
namespace {

// The object name of "file:<name>", or an error naming the artifact.
Status ObjectName(const std::string& artifact, std::string* name) {
  const std::string prefix = plugin::kFileFamily;
  if (artifact.compare(0, prefix.size(), prefix) != 0) {
    return Status::InvalidArgument("files: no artifact '" + ReasonText(artifact, 100, true) +
                                   "' in this plugin");
  }
  *name = artifact.substr(prefix.size());
  if (!IsPlainFileName(*name)) {
    return Status::InvalidArgument("files: '" + ReasonText(*name, 100, true) +
                                   "' is not a plain file name");
  }
  return Status::Ok();
}

}  // namespace

std::vector<plugin::ArtifactSpec> FilesPlugin::Artifacts() const {
  return {{plugin::kFileFamily, "file:<name>: one object of the build's folder, staged as <name>"}};
}

Status FilesPlugin::CheckName(const std::string& artifact) const {
  std::string name;
  return ObjectName(artifact, &name);
}

Status FilesPlugin::Resolve(const std::string& artifact, const plugin::BuildFolder& folder,
                            std::vector<std::string>* objects) const {
  std::string name;
  Status valid = ObjectName(artifact, &name);
  if (!valid.ok()) return valid;
  const auto& names = folder.object_names;
  if (std::find(names.begin(), names.end(), name) == names.end()) {
    return Status::NotFound(artifact + ": no object " + name + " in " + folder.url);
  }
  *objects = {name};
  return Status::Ok();
}

Status FilesPlugin::Install(const std::string& artifact, plugin::InstallContext& ctx) const {
  std::string name;
  Status valid = ObjectName(artifact, &name);
  if (!valid.ok()) return valid;
  return ctx.PlaceFetched(name, name);
}

}  // namespace devserver::files
