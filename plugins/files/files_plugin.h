// The files plugin: the artifact family "file:<name>", any plain object of the build's folder
// staged under its own name (the wire's files=<name>).
#pragma once

#include <string>
#include <vector>

#include "devserver/plugin.h"

namespace devserver::files {

class FilesPlugin final : public plugin::ArtifactPlugin {
 public:
  std::string Name() const override { return "files"; }
  std::vector<plugin::ArtifactSpec> Artifacts() const override;
  Status CheckName(const std::string& artifact) const override;
  Status Resolve(const std::string& artifact, const plugin::BuildFolder& folder,
                 std::vector<std::string>* objects) const override;
  Status Install(const std::string& artifact, plugin::InstallContext& ctx) const override;
};

}  // namespace devserver::files
