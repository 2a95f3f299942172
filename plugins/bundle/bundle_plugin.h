// A plugin whose artifacts are each one archive of the build's folder, unpacked (through the
// core's extractor) with a member filter: symbols, autotest and images are tables of these.
#pragma once

#include <string>
#include <vector>

#include "devserver/plugin.h"

namespace devserver::bundle {

struct BundledArtifact {
  std::string name;
  std::string summary;
  // Object names in order of preference: the first one the folder holds is staged
  // ("autotest.tar", else "autotest.tar.bz2").
  std::vector<std::string> objects;
  std::vector<std::string> include;  // plugin::ExtractRequest selectors
  std::vector<std::string> exclude;
};

class BundlePlugin : public plugin::ArtifactPlugin {
 public:
  BundlePlugin(std::string name, std::vector<BundledArtifact> artifacts)
      : name_(std::move(name)), artifacts_(std::move(artifacts)) {}

  std::string Name() const override { return name_; }
  std::vector<plugin::ArtifactSpec> Artifacts() const override;
  Status Resolve(const std::string& artifact, const plugin::BuildFolder& folder,
                 std::vector<std::string>* objects) const override;
  Status Install(const std::string& artifact, plugin::InstallContext& ctx) const override;

 private:
  const BundledArtifact* Find(const std::string& artifact) const;
  Status NotOurs(const std::string& artifact) const;

  std::string name_;
  std::vector<BundledArtifact> artifacts_;
};

}  // namespace devserver::bundle
