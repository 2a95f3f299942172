// A plugin::InstallContext for plugin unit tests, over a scratch directory.
#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "devserver/plugin.h"
#include "fcgi/staging/install_context.h"
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

// The core's own InstallContext (the one staging uses) over a scratch directory: fetched/
// holds the "downloaded" objects, each holding "bytes of <its name>"; out/ is the output
// directory. Extraction runs with the default budgets.
class ScratchInstall final : public StagingInstallContext {
 public:
  // kNone leaves the downloading to FetchAll(), so a test can resolve first or install with
  // fetched files missing.
  enum class Fetch { kNone, kAll };

  explicit ScratchInstall(BuildFolder folder, Fetch fetch = Fetch::kNone, Env* env = Env::Default())
      : ScratchInstall(std::make_unique<devserver::testing::TempDir>("devserver-scratch-install"),
                       std::move(folder), fetch, env) {}

  // Every object of the folder "downloaded".
  void FetchAll() const {
    for (const std::string& name : folder().object_names) {
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
  ScratchInstall(std::unique_ptr<devserver::testing::TempDir> dir, BuildFolder folder, Fetch fetch,
                 Env* env)
      : StagingInstallContext(env, MakeDir(*dir, "fetched"), MakeDir(*dir, "out"),
                              std::move(folder), extract::ExtractLimits(), nullptr),
        dir_(std::move(dir)) {
    if (fetch == Fetch::kAll) FetchAll();
  }
  static std::string MakeDir(const devserver::testing::TempDir& dir, const std::string& name) {
    std::filesystem::create_directory(dir.Sub(name));
    return dir.Sub(name);
  }

  std::unique_ptr<devserver::testing::TempDir> dir_;
};

}  // namespace devserver::plugin::testing
