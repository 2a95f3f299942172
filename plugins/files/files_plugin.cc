#include "plugins/files/files_plugin.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "plugins/files/file_name.h"

namespace devserver::files {
namespace {

// The object name of "file:<name>", or an error naming the artifact.
Status ObjectName(const std::string& artifact, std::string* name) {
  const std::string prefix = kFilePrefix;
  if (artifact.compare(0, prefix.size(), prefix) != 0) {
    return Status::InvalidArgument("files: no artifact '" + Printable(artifact) +
                                   "' in this plugin");
  }
  *name = artifact.substr(prefix.size());
  if (!IsPlainFileName(*name)) {
    return Status::Failed(Printable(artifact) + ": not a plain file name");
  }
  return Status::Ok();
}

}  // namespace

std::vector<plugin::ArtifactSpec> FilesPlugin::Artifacts() const {
  return {{kFilePrefix, "file:<name>: one object of the build's folder, staged as <name>"}};
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
  const std::string from = ctx.FetchedPath(name);
  const std::string to = ctx.OutputDir() + "/" + name;
  if (std::rename(from.c_str(), to.c_str()) != 0) {
    return Status::IOError(artifact + ": rename " + from + " to " + to, errno);
  }
  return Status::Ok();
}

}  // namespace devserver::files
