#include "tests/chaos/world.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "tests/support/test_archive.h"

namespace devserver::chaos {
namespace {

using testing::ArchiveOptions;
using testing::Compression;
using testing::TestEntry;
using testing::TestFile;

constexpr const char* kStateful = "stateful.tgz";
constexpr const char* kTestSuites = "test_suites.tar.bz2";
constexpr const char* kAutotest = "autotest.tar";
constexpr const char* kManifest = "UPLOADED";

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string bytes(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    const uint64_t v = rng();
    std::memcpy(&bytes[i], &v, std::min<size_t>(8, n - i));
  }
  return bytes;
}

std::string ArchiveBytes(const std::string& path, const std::vector<TestEntry>& entries,
                         Compression compression) {
  ArchiveOptions options;
  options.compression = compression;
  const std::string error = testing::WriteTestArchive(path, entries, options);
  if (!error.empty()) throw std::runtime_error("writing a test archive: " + error);
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::error_code ec;
  std::filesystem::remove(path, ec);
  return bytes;
}

uint64_t Mix(uint64_t seed, const std::string& text) {
  uint64_t h = seed;
  for (char c : text) h = SubSeed(h, static_cast<unsigned char>(c));
  return h;
}

}  // namespace

const std::vector<std::string>& NamedArtifacts() {
  static const std::vector<std::string> kNames = {"full_payload", "stateful", "delta_payloads",
                                                  "test_suites", "autotest"};
  return kNames;
}

const std::vector<std::string>& PlainFiles() {
  static const std::vector<std::string> kNames = {"extra", "extra-big"};
  return kNames;
}

const std::vector<std::string>& ForegroundArtifacts() {
  static const std::vector<std::string> kNames = {"full_payload", "stateful", "test_suites"};
  return kNames;
}

const std::vector<std::string>& BackgroundArtifacts() {
  static const std::vector<std::string> kNames = {"autotest", "delta_payloads"};
  return kNames;
}

std::vector<std::string> RemovedBy(const FileModel& file) {
  if (file.link) return {file.artifact, "stateful"};
  return {file.artifact};
}

World::World(fakegcs::FakeGcsProcess* fake, uint64_t seed, int builds, int heavy_files,
             std::string scratch_dir)
    : fake_(fake), seed_(seed), scratch_(std::move(scratch_dir)) {
  Rng rng(SubSeed(seed, 7001));
  for (int i = 0; i < builds; ++i) {
    Build b;
    BuildInfo& info = b.info;
    info.index = i;
    info.build = "R" + std::to_string(100 + i) + "-" + std::to_string(1000 + i) + ".0.0";
    info.folder = kBoard + "-release/" + info.build;
    // A third of the builds download slowly enough for faults to land mid-download; every
    // other one has an UPLOADED manifest; every sixth unpacks a big autotest tree.
    info.slow = i % 3 == 1;
    info.pace_bps = info.slow ? static_cast<uint64_t>(rng.Between(256, 1024)) << 10 : 0;
    info.manifest = i % 2 == 0;
    info.heavy_files = i % 6 == 5 ? heavy_files : 0;
    info.full_size = static_cast<uint64_t>(rng.Between(1 << 20, 3 << 20));
    auto add = [&](const std::string& name, const std::string& artifact) {
      ObjectModel o;
      o.name = name;
      o.artifact = artifact;
      b.objects[name] = o;
    };
    add("chromeos_" + info.build + "_" + kBoard + "_full_dev.bin", "full_payload");
    add(kStateful, "stateful");
    add("chromeos_" + info.build + "_" + info.build + "_" + kBoard + "_delta_dev.bin",
        "delta_payloads");
    add("chromeos_R98-1.0.0_" + info.build + "_" + kBoard + "_delta_dev.bin", "delta_payloads");
    add(kTestSuites, "test_suites");
    add(kAutotest, "autotest");
    for (const std::string& file : PlainFiles()) add(file, FileArtifact(file));
    if (info.manifest) add(kManifest, "");
    builds_.push_back(std::move(b));
  }
}

std::string World::MakeObject(const Build& build, const std::string& object, int generation,
                              std::vector<std::pair<std::string, std::string>>* files) const {
  const BuildInfo& info = build.info;
  const std::string& artifact = build.objects.at(object).artifact;
  const uint64_t content_seed =
      Mix(SubSeed(seed_, static_cast<uint64_t>(generation)), info.folder + "/" + object);
  const std::string marker = "# " + info.build + " generation " + std::to_string(generation) + "\n";
  if (object == kManifest) {
    std::string manifest;
    for (const auto& [name, o] : build.objects) {
      if (name != kManifest) manifest += name + "\n";
    }
    return manifest;
  }
  if (object == kTestSuites) {
    const std::string control = "NAME = 'bvt'\n" + marker;
    files->emplace_back("autotest/test_suites/control.bvt", control);
    return ArchiveBytes(scratch_ + "/archive",
                        {TestFile("autotest/test_suites/control.bvt", control)},
                        Compression::kBzip2);
  }
  if (object == kAutotest) {
    std::vector<TestEntry> entries;
    const std::string control = "NAME = 'dummy'\nSUITE = 'bvt'\n" + marker;
    entries.push_back(TestFile("autotest/server/site_tests/dummy/control", control));
    files->emplace_back("autotest/server/site_tests/dummy/control", control);
    // The plugin leaves autotest/test_suites/ to the test_suites artifact: this copy must
    // never be published.
    entries.push_back(TestFile("autotest/test_suites/control.bvt", "autotest's own copy\n"));
    for (int i = 0; i < info.heavy_files; ++i) {
      const std::string path =
          "autotest/client/heavy/d" + std::to_string(i / 100) + "/f" + std::to_string(i) + ".py";
      const std::string text = marker + "# file " + std::to_string(i) + "\n" +
                               std::string(static_cast<size_t>(100 + i % 300), 'x') + "\n";
      entries.push_back(TestFile(path, text));
      files->emplace_back(path, text);
    }
    return ArchiveBytes(scratch_ + "/archive", entries, Compression::kNone);
  }
  size_t size = 0;
  std::string path = object;
  if (artifact == "full_payload") {
    size = info.full_size;
    path = "update.gz";
  } else if (object == kStateful) {
    size = 300 << 10;
  } else if (artifact == "delta_payloads") {
    const bool nton = object.rfind("chromeos_" + info.build + "_", 0) == 0;
    size = nton ? 200 << 10 : 100 << 10;
    path = "au/" + info.build + (nton ? "_nton" : "_mton") + "/update.gz";
  } else if (object == "extra-big") {
    size = 1 << 20;
  } else {
    size = 64 << 10;
  }
  std::string bytes = RandomBytes(size, content_seed);
  files->emplace_back(path, bytes);
  if (object == kStateful) {
    // Reachable through the delta payloads' links too (they dangle until this is staged).
    files->emplace_back("au/" + info.build + "_nton/stateful.tgz", bytes);
    files->emplace_back("au/" + info.build + "_mton/stateful.tgz", bytes);
  }
  return bytes;
}

void World::Register(Build* build, const std::string& artifact,
                     const std::vector<std::pair<std::string, std::string>>& files) {
  for (const auto& [path, content] : files) {
    FileModel& f = build->files[path];
    if (f.path.empty()) {
      f.path = path;
      const bool link = path.size() > 13 && path.rfind("au/", 0) == 0 &&
                        path.compare(path.size() - 13, 13, "/stateful.tgz") == 0;
      f.link = link;
      f.artifact = link ? "delta_payloads" : artifact;
      f.sampled = path.rfind("autotest/client/heavy/", 0) == 0;
    }
    f.contents.push_back(std::make_shared<const std::string>(content));
  }
}

void World::Publish() {
  for (Build& b : builds_) {
    for (auto& [name, o] : b.objects) {
      std::vector<std::pair<std::string, std::string>> files;
      const std::string bytes = MakeObject(b, name, 0, &files);
      {
        std::lock_guard<std::mutex> lock(mu_);
        Register(&b, o.artifact, files);
        o.size = bytes.size();
        o.generations = 1;
      }
      fake_->PutObject(kBucket, b.info.folder + "/" + name, bytes);
    }
    if (b.info.slow) {
      for (const auto& [name, o] : b.objects) {
        if (o.artifact == "full_payload" || o.artifact == "delta_payloads" || name == "extra-big") {
          fake_->AddFault(b.info.Key(name), fakegcs::Fault().PaceBps(b.info.pace_bps));
        }
      }
    }
  }
}

int World::FindFolder(const std::string& folder) const {
  for (const Build& b : builds_) {
    if (b.info.folder == folder) return b.info.index;
  }
  return -1;
}

std::vector<ObjectModel> World::Objects(int b) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<ObjectModel> out;
  for (const auto& [name, o] : builds_[static_cast<size_t>(b)].objects) out.push_back(o);
  return out;
}

std::vector<std::string> World::ObjectsOf(int b, const std::string& artifact) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& [name, o] : builds_[static_cast<size_t>(b)].objects) {
    if (o.artifact == artifact) out.push_back(name);
  }
  return out;
}

std::vector<std::string> World::Paths(int b) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& [path, f] : builds_[static_cast<size_t>(b)].files) out.push_back(path);
  return out;
}

std::vector<std::string> World::PathsOf(int b, const std::string& artifact) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& [path, f] : builds_[static_cast<size_t>(b)].files) {
    if (f.artifact == artifact) out.push_back(path);
  }
  return out;
}

bool World::File(int b, const std::string& path, FileModel* file) const {
  std::lock_guard<std::mutex> lock(mu_);
  const auto& files = builds_[static_cast<size_t>(b)].files;
  auto it = files.find(path);
  if (it == files.end()) return false;
  *file = it->second;
  return true;
}

std::string World::NewGeneration(int b, const std::string& object) {
  Build& build = builds_[static_cast<size_t>(b)];
  int generation = 0;
  std::string artifact;
  {
    std::lock_guard<std::mutex> lock(mu_);
    generation = build.objects.at(object).generations;
    artifact = build.objects.at(object).artifact;
  }
  std::vector<std::pair<std::string, std::string>> files;
  const std::string bytes = MakeObject(build, object, generation, &files);
  {
    std::lock_guard<std::mutex> lock(mu_);
    Register(&build, artifact, files);
  }
  int64_t gcs_generation = 0;
  {
    std::lock_guard<std::mutex> lock(fake_mu_);
    gcs_generation = fake_->PutObject(kBucket, build.info.folder + "/" + object, bytes);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ObjectModel& o = build.objects.at(object);
    o.size = bytes.size();
    o.generations = generation + 1;
  }
  return build.info.folder + "/" + object + " generation " + std::to_string(generation) + " (GCS " +
         std::to_string(gcs_generation) + ", " + std::to_string(bytes.size()) + " bytes)";
}

void World::AddFault(const std::string& key, const fakegcs::Fault& fault) {
  std::lock_guard<std::mutex> lock(fake_mu_);
  fake_->AddFault(key, fault);
}

fakegcs::CounterSnapshot World::Counters() {
  std::lock_guard<std::mutex> lock(fake_mu_);
  return fake_->Counters();
}

}  // namespace devserver::chaos
