// The core's side of the plugin contract's InstallContext: where a plugin finds the fetched
// objects of one staging and puts the artifact's files, and the file-system work it asks for
// (moving a fetched object into place, making a link, unpacking an archive), done through the
// Env so fault tests reach it. Plugin unit tests use it too (plugins/testing/).
#pragma once

#include <functional>
#include <map>
#include <string>

#include "fcgi/base/env.h"
#include "fcgi/extract/extractor.h"
#include "fcgi/staging/payload_digest.h"
#include "plugins/include/devserver/plugin.h"

namespace devserver {

// An output file a plugin declared an update payload, read once at the declaration.
struct DeclaredPayload {
  PayloadDigest digest;
  bool is_delta = false;
};

// An output file that is a fetched object moved into place unchanged: a peer asking for the
// object can be given the file (see StateDb::FindVerbatimFile).
struct VerbatimSource {
  std::string object;  // relative to the build's folder
  int64_t generation = 0;
  int64_t size = 0;
};

class StagingInstallContext : public plugin::InstallContext {
 public:
  // `fetch_dir` holds the downloaded objects (flat names, see FlatName), `out_dir` receives
  // the artifact's files. `cancelled` is polled by extractions.
  StagingInstallContext(Env* env, std::string fetch_dir, std::string out_dir,
                        plugin::BuildFolder folder, const extract::ExtractLimits& limits,
                        std::function<bool()> cancelled);

  std::string FetchedPath(const std::string& object_name) const override;
  std::string OutputDir() const override { return out_dir_; }
  const plugin::BuildFolder& folder() const override { return folder_; }
  Status PlaceFetched(const std::string& object_name, const std::string& relative_path) override;
  Status Link(const std::string& target, const std::string& relative_path) override;
  Status Extract(const plugin::ExtractRequest& request) override;
  Status DeclarePayload(const std::string& relative_path, bool is_delta) override;

  // The payloads declared so far, by path relative to the output directory.
  const std::map<std::string, DeclaredPayload>& payloads() const { return payloads_; }
  // The objects placed unchanged (PlaceFetched), by path relative to the output directory.
  const std::map<std::string, std::string>& placed() const { return placed_; }

  // Objects may live in sub-folders ("au/x.bin"); downloads sit flat, '/' spelled '%'.
  static std::string FlatName(std::string name);

 private:
  // Checks `relative_path` and makes its parent directories under the output directory.
  Status PrepareOutputPath(const std::string& relative_path, std::string* full_path);

  Env* const env_;
  const std::string fetch_dir_;
  const std::string out_dir_;
  const plugin::BuildFolder folder_;
  const extract::ExtractLimits limits_;
  const std::function<bool()> cancelled_;
  std::map<std::string, DeclaredPayload> payloads_;
  std::map<std::string, std::string> placed_;
};

}  // namespace devserver
