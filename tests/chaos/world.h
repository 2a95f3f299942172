// The chaos run's model of what is in the fake GCS: its synthetic builds, every generation of
// every object that was ever published, and the files each artifact puts under
// static/<folder>/ with every content those files may legitimately have. A byte read through
// /static/ is checked against this model (invariant 1).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tests/chaos/common.h"
#include "tests/fakegcs/fakegcs_process.h"

namespace devserver::chaos {

inline const std::string kBucket = "chromeos-image-archive";
inline const std::string kBoard = "x86-alex";

// The artifacts the clients ask for by name, and the plain files of every build's folder
// (files=). "extra" is a prefix of "extra-big" on purpose: their staging temp directories
// (.staging-file:extra-<token>, .staging-file:extra-big-<token>) share a prefix.
const std::vector<std::string>& NamedArtifacts();
const std::vector<std::string>& PlainFiles();
// "file:<name>" for a plain file, the artifact name otherwise.
inline std::string FileArtifact(const std::string& name) { return "file:" + name; }

// /download's sets (README "Endpoints").
const std::vector<std::string>& ForegroundArtifacts();
const std::vector<std::string>& BackgroundArtifacts();

// One file under static/<folder>/ and what it may hold.
struct FileModel {
  std::string path;      // relative to the build directory: "update.gz"
  std::string artifact;  // the artifact that publishes it
  bool link = false;     // a symbolic link (au/*/stateful.tgz): dangles until stateful is staged
  bool sampled = false;  // one of many alike (the heavy autotest tree): checked by sample
  std::vector<std::shared_ptr<const std::string>> contents;  // one per generation, oldest first
};

// The artifacts a clean of any of which takes `file` off /static/: the artifact that publishes
// it, and for a delta's stateful.tgz link also stateful, whose file the link shows (a link whose
// target is gone reads as 404 like a missing link).
std::vector<std::string> RemovedBy(const FileModel& file);

// One object of a build's folder.
struct ObjectModel {
  std::string name;      // relative to the folder: "stateful.tgz"
  std::string artifact;  // the artifact it makes; empty for UPLOADED
  uint64_t size = 0;     // of the newest generation
  int generations = 0;
};

// The fixed facts of one synthetic build.
struct BuildInfo {
  int index = 0;
  std::string build;      // "R101-3.0.0"
  std::string folder;     // "x86-alex-release/R101-3.0.0"
  bool slow = false;      // its payloads and big file are paced by the fake
  uint64_t pace_bps = 0;  // when slow
  bool manifest = false;  // its folder has an UPLOADED manifest
  int heavy_files = 0;    // extra files in autotest.tar (a tree that takes a while to unpack)
  uint64_t full_size = 0;

  std::string Url() const { return "gs://" + kBucket + "/" + folder; }
  // "<bucket>/<folder>/<object>", the fake's key.
  std::string Key(const std::string& object) const { return kBucket + "/" + folder + "/" + object; }
};

class World {
 public:
  // Draws the builds from `seed`; nothing is uploaded yet.
  // Archives are written in `scratch_dir` on their way to the fake.
  World(fakegcs::FakeGcsProcess* fake, uint64_t seed, int builds, int heavy_files,
        std::string scratch_dir);

  // Uploads the first generation of every object and arms the pacing of slow builds.
  void Publish();

  int size() const { return static_cast<int>(builds_.size()); }
  const BuildInfo& info(int b) const { return builds_[static_cast<size_t>(b)].info; }
  // The build whose folder is `folder`, or -1.
  int FindFolder(const std::string& folder) const;

  std::vector<ObjectModel> Objects(int b) const;
  // The object an artifact is made of ("" when none, e.g. for UPLOADED).
  std::vector<std::string> ObjectsOf(int b, const std::string& artifact) const;
  // Every path the model knows for the build, and those one artifact publishes.
  std::vector<std::string> Paths(int b) const;
  std::vector<std::string> PathsOf(int b, const std::string& artifact) const;
  // A copy of one file's model; false when the path is unknown.
  bool File(int b, const std::string& path, FileModel* file) const;

  // Publishes a new generation of one object under the same name: the new contents of its
  // files are registered first, so that a reader never meets bytes the model does not know.
  // Returns a one-line description.
  std::string NewGeneration(int b, const std::string& object);

  // Serialised access to the fake, whose client is not meant for concurrent callers.
  void AddFault(const std::string& key, const fakegcs::Fault& fault);
  fakegcs::CounterSnapshot Counters();

 private:
  struct Build {
    BuildInfo info;
    std::map<std::string, ObjectModel> objects;  // by name
    std::map<std::string, FileModel> files;      // by path
  };

  // The bytes of generation `generation` of `object`, and the files they unpack to:
  // (path, content) pairs appended to *files (for a plain object, its one file).
  std::string MakeObject(const Build& build, const std::string& object, int generation,
                         std::vector<std::pair<std::string, std::string>>* files) const;
  void Register(Build* build, const std::string& artifact,
                const std::vector<std::pair<std::string, std::string>>& files);

  fakegcs::FakeGcsProcess* fake_;
  const uint64_t seed_;
  const std::string scratch_;
  std::mutex fake_mu_;         // the fake's client
  mutable std::mutex mu_;      // builds_' object sizes and generations, and files
  std::vector<Build> builds_;  // the vector and the maps' keys are fixed after construction
};

}  // namespace devserver::chaos
