#include "plugins/payloads/payloads_plugin.h"

#include "plugins/payloads/payload_artifacts.h"

namespace devserver::payloads {
namespace {

Status NotOurs(const std::string& artifact) {
  return Status::InvalidArgument("payloads: no artifact '" + artifact + "' in this plugin");
}

}  // namespace

std::vector<plugin::ArtifactSpec> PayloadsPlugin::Artifacts() const {
  return {
      {kFullPayload, "the full update payload (chromeos_*_full_*.bin) as update.gz"},
      {kDeltaPayloads,
       "delta update payloads to this build, as au/<build>_nton/update.gz and "
       "au/<build>_mton/update.gz"},
      {kStateful, "the stateful partition image, stateful.tgz"},
  };
}

Status PayloadsPlugin::Resolve(const std::string& artifact, const plugin::BuildFolder& folder,
                               std::vector<std::string>* objects) const {
  if (artifact == kFullPayload) return ResolveFullPayload(folder, objects);
  if (artifact == kDeltaPayloads) return ResolveDeltaPayloads(folder, objects);
  if (artifact == kStateful) return ResolveStateful(folder, objects);
  return NotOurs(artifact);
}

Status PayloadsPlugin::Install(const std::string& artifact, plugin::InstallContext& ctx) const {
  if (artifact == kFullPayload) return InstallFullPayload(ctx);
  if (artifact == kDeltaPayloads) return InstallDeltaPayloads(ctx);
  if (artifact == kStateful) return InstallStateful(ctx);
  return NotOurs(artifact);
}

}  // namespace devserver::payloads
