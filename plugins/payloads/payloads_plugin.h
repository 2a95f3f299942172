// The payloads plugin: the update payloads a device installs (full_payload, delta_payloads)
// and the stateful image that goes with them (stateful).
#pragma once

#include <string>
#include <vector>

#include "devserver/plugin.h"

namespace devserver::payloads {

class PayloadsPlugin final : public plugin::ArtifactPlugin {
 public:
  std::string Name() const override { return "payloads"; }
  std::vector<plugin::ArtifactSpec> Artifacts() const override;
  Status Resolve(const std::string& artifact, const plugin::BuildFolder& folder,
                 std::vector<std::string>* objects) const override;
  Status Install(const std::string& artifact, plugin::InstallContext& ctx) const override;
};

}  // namespace devserver::payloads
