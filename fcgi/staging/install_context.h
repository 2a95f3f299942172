// The core's side of the plugin contract's InstallContext: where a plugin finds the fetched
// objects of one staging and puts the artifact's files, and the file-system work it asks for
// (moving a fetched object into place, making a link, unpacking an archive), done through the
// Env so fault tests reach it. Plugin unit tests use it too (plugins/testing/).
#pragma once

#include <functional>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "fcgi/base/env.h"
#include "fcgi/extract/extractor.h"
#include "fcgi/staging/fetch_progress.h"
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

  // A staging runs Install while its objects download: `downloads` follows each object (by
  // name relative to the folder). Then Extract unpacks an archive as it arrives and returns once
  // it is verified; PlaceFetched of an object still arriving is done by Complete; DeclarePayload
  // of such a file hashes it as it arrives. Without it (plugin tests) every object is whole.
  void FollowDownloads(std::map<std::string, std::shared_ptr<FetchProgress>> downloads) {
    downloads_ = std::move(downloads);
  }
  // After Install and every download succeeded: the moves PlaceFetched left for later, and
  // the digests of the payloads that were still arriving.
  Status Complete();
  // Whether an Extract unpacked bytes that its download threw away since (it started over):
  // Install must run again, on the whole objects, in an empty output directory.
  bool MustInstallAgain() const { return install_again_; }

  // The payloads declared so far, by path relative to the output directory.
  const std::map<std::string, DeclaredPayload>& payloads() const { return payloads_; }
  // The objects placed unchanged (PlaceFetched), by path relative to the output directory.
  const std::map<std::string, std::string>& placed() const { return placed_; }

  // Objects may live in sub-folders ("au/x.bin"); downloads sit flat, '/' spelled '%'.
  static std::string FlatName(std::string name);

 private:
  // Checks `relative_path` and makes its parent directories under the output directory.
  Status PrepareOutputPath(const std::string& relative_path, std::string* full_path);
  // The download of `object_name` when it is still to be verified; null when it is whole.
  std::shared_ptr<FetchProgress> Arriving(const std::string& object_name) const;
  Status Move(const std::string& object_name, const std::string& relative_path,
              const std::string& to);

  Env* const env_;
  const std::string fetch_dir_;
  const std::string out_dir_;
  const plugin::BuildFolder folder_;
  const extract::ExtractLimits limits_;
  const std::function<bool()> cancelled_;
  std::map<std::string, DeclaredPayload> payloads_;
  std::map<std::string, std::string> placed_;

  std::map<std::string, std::shared_ptr<FetchProgress>> downloads_;
  struct LaterMove {
    std::string object_name;
    std::string relative_path;
    std::string to;
  };
  std::vector<LaterMove> later_moves_;
  struct LaterDigest {
    std::string relative_path;
    bool is_delta = false;
    std::future<std::pair<Status, PayloadDigest>> result;
  };
  std::vector<LaterDigest> later_digests_;
  bool install_again_ = false;
};

}  // namespace devserver
