// A stand-in plugin for artifact_registry_test, built in variants by compile definitions:
//   TEST_PLUGIN_ARTIFACT     the one artifact it claims
//   TEST_PLUGIN_API_VERSION  what ApiVersion() reports
//   TEST_PLUGIN_NO_MANIFEST  leave the manifest out
#include <Poco/ClassLibrary.h>

#include "plugins/include/devserver/plugin.h"

namespace devserver::registry_test {

class StandInPlugin final : public plugin::ArtifactPlugin {
 public:
  int ApiVersion() const override { return TEST_PLUGIN_API_VERSION; }
  std::string Name() const override { return "stand-in"; }
  std::vector<plugin::ArtifactSpec> Artifacts() const override {
    return {{TEST_PLUGIN_ARTIFACT, "a test double"}};
  }
  Status Resolve(const std::string& artifact, const plugin::BuildFolder&,
                 std::vector<std::string>*) const override {
    return Status::Failed(artifact + ": stand-in plugin");
  }
  Status Install(const std::string& artifact, plugin::InstallContext&) const override {
    return Status::Failed(artifact + ": stand-in plugin");
  }
};

}  // namespace devserver::registry_test

#ifndef TEST_PLUGIN_NO_MANIFEST
// cppcheck-suppress unknownMacro ; the macro is in a system header cppcheck does not read
POCO_BEGIN_MANIFEST(devserver::plugin::ArtifactPlugin)
POCO_EXPORT_CLASS(devserver::registry_test::StandInPlugin)
POCO_END_MANIFEST
#endif
