// A plugin::InstallContext for plugin unit tests, over a scratch directory.
#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "devserver/plugin.h"
#include "fcgi/extract/extractor.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_archive.h"

namespace devserver::plugin::testing {

// Archive options for the common cases (designated initialisers would trip
// -Wmissing-field-initializers).
inline devserver::testing::ArchiveOptions TarWith(devserver::testing::Compression compression) {
  devserver::testing::ArchiveOptions options;
  options.compression = compression;
  return options;
}
inline devserver::testing::ArchiveOptions Zip() {
  devserver::testing::ArchiveOptions options;
  options.format = devserver::testing::ArchiveFormat::kZip;
  return options;
}

// fetched/ holds the "downloaded" objects, each holding "bytes of <its name>"; out/ is the
// output directory.
class ScratchInstall final : public InstallContext {
 public:
  // kNone leaves the downloading to FetchAll(), so a test can resolve first or install with
  // fetched files missing.
  enum class Fetch { kNone, kAll };

  explicit ScratchInstall(BuildFolder folder, Fetch fetch = Fetch::kNone)
      : folder_(std::move(folder)) {
    std::filesystem::create_directory(dir_.Sub("fetched"));
    std::filesystem::create_directory(dir_.Sub("out"));
    if (fetch == Fetch::kAll) FetchAll();
  }

  std::string FetchedPath(const std::string& object_name) const override {
    return dir_.Sub("fetched/" + object_name);
  }
  std::string OutputDir() const override { return dir_.Sub("out"); }
  const BuildFolder& folder() const override { return folder_; }
  // The service's extractor with its default budgets.
  Status Extract(const ExtractRequest& request) override {
    return extract::ExtractArchive(FetchedPath(request.object_name), OutputDir(),
                                   {request.include, request.exclude}, extract::ExtractLimits());
  }

  // Every object of the folder "downloaded".
  void FetchAll() const {
    for (const std::string& name : folder_.object_names) {
      std::ofstream(FetchedPath(name), std::ios::binary) << "bytes of " << name;
    }
  }

  // `object` "downloaded" as an archive of `entries`; "" or the writer's error.
  std::string FetchArchive(const std::string& object,
                           const std::vector<devserver::testing::TestEntry>& entries,
                           const devserver::testing::ArchiveOptions& options = {}) const {
    return devserver::testing::WriteTestArchive(FetchedPath(object), entries, options);
  }

  // The output tree, one line per file ("path"), link ("path -> target") or empty directory
  // ("path/"), sorted: directories with something in them show through their contents.
  std::vector<std::string> Output() const {
    namespace fs = std::filesystem;
    std::vector<std::string> lines;
    for (const auto& entry : fs::recursive_directory_iterator(OutputDir())) {
      std::string rel = entry.path().lexically_relative(OutputDir()).string();
      if (entry.is_symlink()) {
        lines.push_back(rel + " -> " + fs::read_symlink(entry.path()).string());
      } else if (entry.is_directory()) {
        if (fs::is_empty(entry.path())) lines.push_back(rel + "/");
      } else {
        lines.push_back(rel);
      }
    }
    std::sort(lines.begin(), lines.end());
    return lines;
  }

  std::string OutputBytes(const std::string& rel) const {
    std::ifstream in(OutputDir() + "/" + rel, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

 private:
  devserver::testing::TempDir dir_{"devserver-scratch-install"};
  BuildFolder folder_;
};

}  // namespace devserver::plugin::testing
