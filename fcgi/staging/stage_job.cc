#include "fcgi/staging/stage_job.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include "fcgi/base/fs.h"
#include "fcgi/base/log.h"
#include "fcgi/extract/extractor.h"
#include "fcgi/build/build_ref.h"

namespace devserver {
namespace {

namespace fs = std::filesystem;
using state::Claim;
using storage::ObjectInfo;

constexpr size_t kMaxManifestBytes = 1 << 20;

// Renews the claim's lease and records progress while objects download; asks the download
// to stop once the claim is lost or the worker shuts down.
class ClaimKeeper : public storage::FetchObserver {
 public:
  ClaimKeeper(const StagingDeps& deps, const Claim& claim)
      : deps_(deps), claim_(claim), last_(std::chrono::steady_clock::now()) {}

  void SetTotal(int64_t total) { total_ = total; }
  void StartObject(int64_t done_before) { base_ = done_before; }

  void OnProgress(uint64_t done, uint64_t) override {
    Beat(base_ + static_cast<int64_t>(done), false);
  }

  bool Cancelled() override {
    return lost_ || (deps_.stopping != nullptr && deps_.stopping->load());
  }

  // Renews now if the heartbeat interval has passed (or `force`).
  void Beat(int64_t done, bool force) {
    auto now = std::chrono::steady_clock::now();
    if (!force && now - last_ < deps_.heartbeat) return;
    last_ = now;
    Status s = deps_.db->Heartbeat(claim_, done,
                                   total_ > 0 ? std::optional<int64_t>(total_) : std::nullopt);
    if (!s.ok()) {
      DS_LOG(kWarning) << s.message();
      lost_ = true;
    }
  }

  bool lost() const { return lost_; }

 private:
  const StagingDeps& deps_;
  const Claim& claim_;
  std::chrono::steady_clock::time_point last_;
  int64_t base_ = 0;
  int64_t total_ = 0;
  bool lost_ = false;
};

// The extraction budgets of the configuration.
extract::ExtractLimits ExtractLimitsOf(const Config& config) {
  extract::ExtractLimits limits;
  limits.max_bytes = int64_t{config.extract_max_gib} << 30;
  limits.max_entries = config.extract_max_entries;
  limits.max_ratio = config.extract_max_ratio;
  limits.max_seconds = config.extract_max_seconds;
  return limits;
}

class OutputContext : public plugin::InstallContext {
 public:
  OutputContext(std::string fetch_dir, std::string out_dir, plugin::BuildFolder folder,
                const extract::ExtractLimits& limits, std::function<bool()> cancelled)
      : fetch_dir_(std::move(fetch_dir)),
        out_dir_(std::move(out_dir)),
        folder_(std::move(folder)),
        limits_(limits),
        cancelled_(std::move(cancelled)) {}
  std::string FetchedPath(const std::string& object_name) const override {
    return fetch_dir_ + "/" + FlatName(object_name);
  }
  std::string OutputDir() const override { return out_dir_; }
  const plugin::BuildFolder& folder() const override { return folder_; }
  Status Extract(const plugin::ExtractRequest& request) override {
    extract::ExtractStats stats;
    const auto started = std::chrono::steady_clock::now();
    Status s =
        extract::ExtractArchive(FetchedPath(request.object_name), out_dir_,
                                {request.include, request.exclude}, limits_, cancelled_, &stats);
    if (s.ok()) {
      // bench/run reads the duration from this line to compare with tar.
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count();
      DS_LOG(kInfo) << "extracted " << request.object_name << ": " << stats.files << " files, "
                    << stats.bytes_written << " bytes from " << stats.entries << " members in "
                    << ms << " ms";
    }
    return s;
  }

  // Objects may live in sub-folders ("au/x.bin"); downloads sit flat, '/' spelled '%'.
  static std::string FlatName(std::string name) {
    for (char& c : name) {
      if (c == '/') c = '%';
    }
    return name;
  }

 private:
  std::string fetch_dir_;
  std::string out_dir_;
  plugin::BuildFolder folder_;
  extract::ExtractLimits limits_;
  std::function<bool()> cancelled_;
};

// The names (relative to the folder) and metadata of the build's objects. From the UPLOADED
// manifest when there is one (metadata is then fetched per needed object), else a listing.
Status ListFolder(storage::ArchiveStore* store, const BuildRef& ref,
                  std::map<std::string, ObjectInfo>* objects, bool* from_manifest) {
  objects->clear();
  std::string manifest;
  Status s = store->ReadSmall(ref.bucket, ref.folder + "/UPLOADED", kMaxManifestBytes, &manifest);
  if (s.ok()) {
    *from_manifest = true;
    std::istringstream lines(manifest);
    std::string line;
    while (std::getline(lines, line)) {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
      if (line.empty()) continue;
      ObjectInfo info;
      info.bucket = ref.bucket;
      info.name = ref.folder + "/" + line;
      (*objects)[line] = info;
    }
    return Status::Ok();
  }
  if (s.code() != Status::Code::kNotFound) return s;
  *from_manifest = false;
  std::vector<ObjectInfo> listed;
  s = store->List(ref.bucket, ref.folder + "/", &listed);
  if (!s.ok()) return s;
  for (ObjectInfo& info : listed) {
    std::string relative = info.name.substr(ref.folder.size() + 1);
    if (!relative.empty()) (*objects)[relative] = std::move(info);
  }
  return Status::Ok();
}

// Plugins are not supposed to throw; one that does fails the artifact, not the stager.
template <typename Call>
Status GuardPlugin(const plugin::ArtifactPlugin& plugin, const char* what, Call call) {
  try {
    return call();
  } catch (const std::exception& e) {
    return Status::Failed("plugin " + plugin.Name() + " threw from " + what + ": " + e.what());
  }
}

// Sleeps up to `duration`, waking early when the worker stops.
void PauseUnlessStopping(const StagingDeps& deps, std::chrono::milliseconds duration) {
  auto until = std::chrono::steady_clock::now() + duration;
  while (std::chrono::steady_clock::now() < until) {
    if (deps.stopping != nullptr && deps.stopping->load()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

Status FsyncPath(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::IOError("open " + path, errno);
  int rc = fsync(fd);
  int err = errno;
  close(fd);
  if (rc != 0) return Status::IOError("fsync " + path, err);
  return Status::Ok();
}

// Flushes every dirty page of the file system holding `path`: for a tree of many files one
// journal commit, where fsync per file would be one each.
Status SyncFileSystem(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::IOError("open " + path, errno);
  int rc = syncfs(fd);
  int err = errno;
  close(fd);
  if (rc != 0) return Status::IOError("syncfs " + path, err);
  return Status::Ok();
}

// Up to this many files are made durable one by one; more (an unpacked archive) with syncfs.
constexpr size_t kFilesSyncedOneByOne = 16;

// Moves everything under `out_dir` to the same relative place under `build_dir`. File data
// is durable before the renames and the renames before this returns, so a published file
// survives a crash whole.
Status MoveIntoPlace(const std::string& out_dir, const std::string& build_dir,
                     std::vector<state::StagedFile>* files) {
  struct Move {
    fs::path from;
    state::StagedFile file;
    bool regular = false;
  };
  std::vector<Move> moves;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(out_dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    const fs::directory_entry& entry = *it;
    if (entry.is_directory(ec) && !entry.is_symlink(ec)) continue;
    Move move;
    move.from = entry.path();
    move.file.path = entry.path().lexically_relative(out_dir).string();
    if (entry.is_symlink(ec)) {
      move.file.size = 0;
    } else if (entry.is_regular_file(ec)) {
      move.file.size = static_cast<int64_t>(entry.file_size(ec));
      move.regular = true;
    } else {
      return Status::Failed("plugin produced " + move.file.path +
                            ", which is not a file or symlink");
    }
    moves.push_back(std::move(move));
  }
  if (ec) return Status::IOError("walking " + out_dir, ec.value());

  const bool bulk = moves.size() > kFilesSyncedOneByOne;
  Status s = bulk ? SyncFileSystem(out_dir) : Status::Ok();
  for (const Move& move : moves) {
    if (!s.ok()) return s;
    if (move.regular && !bulk) s = FsyncPath(move.from);
  }
  if (!s.ok()) return s;
  std::set<std::string> made_dirs = {build_dir};
  for (Move& move : moves) {
    const std::string dest = build_dir + "/" + move.file.path;
    std::string parent = fs::path(dest).parent_path().string();
    if (made_dirs.insert(parent).second) {
      s = MakeDirectories(parent, 0755);
      if (!s.ok()) return s;
      // Directories MakeDirectories may have created on the way hold new entries too.
      for (fs::path up = fs::path(parent).parent_path(); up.string().size() > build_dir.size();
           up = up.parent_path()) {
        made_dirs.insert(up.string());
      }
    }
    if (rename(move.from.c_str(), dest.c_str()) != 0) {
      return Status::IOError("rename " + move.from.string() + " to " + dest, errno);
    }
    files->push_back(std::move(move.file));
  }
  if (bulk) return SyncFileSystem(build_dir);
  for (const std::string& dir : made_dirs) {
    s = FsyncPath(dir);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

class StageJob {
 public:
  StageJob(const StagingDeps& deps, const Claim& claim)
      : deps_(deps), claim_(claim), keeper_(deps, claim) {}

  Status Run();

 private:
  Status Stage();
  Status Resolve(const plugin::ArtifactPlugin& plugin, std::vector<ObjectInfo>* needed,
                 plugin::BuildFolder* folder);

  const StagingDeps& deps_;
  const Claim& claim_;
  ClaimKeeper keeper_;
  BuildRef ref_;
  std::string build_dir_;
  std::string temp_dir_;
};

Status StageJob::Run() {
  Status s = Stage();
  std::error_code ec;
  if (!temp_dir_.empty()) fs::remove_all(temp_dir_, ec);
  if (s.ok()) return s;
  // The cause, prefixed with the artifact unless it already names it.
  std::string cause = s.message();
  if (cause.rfind(claim_.artifact + ":", 0) != 0) cause = claim_.artifact + ": " + cause;
  if (keeper_.lost()) return Status::Failed(cause);  // the new owner records the outcome
  if (deps_.stopping != nullptr && deps_.stopping->load()) {
    // Not a failure of the artifact: another worker (or the next generation) takes it over.
    Status released = deps_.db->Release(claim_);
    if (!released.ok()) DS_LOG(kWarning) << released.message();
    return Status::Unavailable("staging of " + claim_.artifact + " interrupted by shutdown");
  }
  Status recorded = deps_.db->MarkFailed(claim_, cause);
  if (!recorded.ok()) DS_LOG(kWarning) << recorded.message();
  DS_LOG(kWarning) << "staging failed: " << claim_.build << " " << cause;
  return Status::Failed(cause);
}

Status StageJob::Resolve(const plugin::ArtifactPlugin& plugin, std::vector<ObjectInfo>* needed,
                         plugin::BuildFolder* folder) {
  auto give_up_at =
      std::chrono::steady_clock::now() + std::chrono::seconds(deps_.config->object_wait_s);
  for (;;) {
    std::map<std::string, ObjectInfo> objects;
    bool from_manifest = false;
    Status s = ListFolder(deps_.store, ref_, &objects, &from_manifest);
    if (!s.ok()) return s;
    folder->object_names.clear();
    for (const auto& [name, info] : objects) folder->object_names.push_back(name);
    std::vector<std::string> names;
    // An empty folder is a build that does not exist (yet), whatever the artifact: staging
    // "nothing" from it must not count as success.
    s = objects.empty() ? Status::NotFound("no objects in " + ref_.archive_url)
                        : GuardPlugin(plugin, "Resolve", [&] {
                            return plugin.Resolve(claim_.artifact, *folder, &names);
                          });
    if (s.ok()) {
      needed->clear();
      for (const std::string& name : names) {
        auto it = objects.find(name);
        if (it == objects.end()) {
          return Status::Failed("plugin " + plugin.Name() + " asked for " + name +
                                ", which is not in " + ref_.archive_url);
        }
        ObjectInfo info = it->second;
        if (from_manifest) {
          s = deps_.store->Stat(ref_.bucket, info.name, &info);
          if (s.code() == Status::Code::kNotFound) {
            s = Status::NotFound(claim_.artifact + ": " + info.Url() +
                                 " is listed in UPLOADED but does not exist");
          }
        }
        if (!s.ok()) break;
        needed->push_back(info);
      }
      if (s.ok()) return s;
    }
    // NotFound: not uploaded (yet). Look again until the configured wait is over.
    if (s.code() != Status::Code::kNotFound || std::chrono::steady_clock::now() >= give_up_at ||
        keeper_.Cancelled()) {
      return s.code() == Status::Code::kNotFound ? Status::Failed(s.message()) : s;
    }
    keeper_.Beat(0, false);
    PauseUnlessStopping(deps_, deps_.object_poll);
  }
}

Status StageJob::Stage() {
  Status s = ParseArchiveUrl(claim_.archive_url, deps_.config->allowed_buckets, &ref_);
  if (!s.ok()) return s;
  const plugin::ArtifactPlugin* plugin = deps_.registry->Find(claim_.artifact);
  if (plugin == nullptr) return Status::Failed("no plugin stages this artifact");

  // Nothing is written until storage says what the artifact is made of.
  plugin::BuildFolder folder{ref_.archive_url, ref_.build, {}};
  std::vector<ObjectInfo> needed;
  s = Resolve(*plugin, &needed, &folder);
  if (!s.ok()) return s;

  build_dir_ = deps_.config->static_root + "/" + ref_.folder;
  s = MakeDirectories(build_dir_, 0755);
  if (!s.ok()) return s;
  // Temp directories of earlier, dead stagings of this artifact go first.
  std::error_code ec;
  const std::string prefix = StagingTempPrefix(claim_.artifact);
  for (const auto& entry : fs::directory_iterator(build_dir_, ec)) {
    if (entry.path().filename().string().rfind(prefix, 0) == 0) fs::remove_all(entry.path(), ec);
  }
  temp_dir_ = build_dir_ + "/" + prefix + std::to_string(claim_.token);
  for (const char* sub : {"/fetch", "/out"}) {
    s = MakeDirectories(temp_dir_ + sub, 0755);
    if (!s.ok()) return s;
  }

  OutputContext ctx(temp_dir_ + "/fetch", temp_dir_ + "/out", folder,
                    ExtractLimitsOf(*deps_.config), [this] { return keeper_.Cancelled(); });
  int64_t total = 0;
  for (const ObjectInfo& info : needed) total += static_cast<int64_t>(info.size);
  keeper_.SetTotal(total);
  keeper_.Beat(0, true);
  int64_t done = 0;
  for (const ObjectInfo& info : needed) {
    keeper_.StartObject(done);
    std::string relative = info.name.substr(ref_.folder.size() + 1);
    s = deps_.store->Fetch(info, ctx.FetchedPath(relative), &keeper_);
    if (!s.ok()) return s;
    done += static_cast<int64_t>(info.size);
  }
  keeper_.Beat(done, true);
  if (keeper_.lost()) return Status::Failed("claim lost during download");

  s = GuardPlugin(*plugin, "Install", [&] { return plugin->Install(claim_.artifact, ctx); });
  if (!s.ok()) return s;
  std::vector<state::StagedFile> files;
  s = MoveIntoPlace(ctx.OutputDir(), build_dir_, &files);
  if (!s.ok()) return s;
  // The temp directory goes before the row says `staged`, not after (Run() would): whoever
  // sees the artifact staged (a waiter, /list_image_dir, gc) must not find its leftovers.
  std::error_code removed;
  fs::remove_all(temp_dir_, removed);
  if (!removed) temp_dir_.clear();
  s = deps_.db->Publish(claim_, files);
  if (!s.ok()) return s;
  DS_LOG(kInfo) << "staged " << claim_.build << " " << claim_.artifact << " (" << files.size()
                << " files, " << done << " bytes downloaded)";
  return Status::Ok();
}

}  // namespace

std::string StagingTempPrefix(const std::string& artifact) { return ".staging-" + artifact + "-"; }

Status RunStageJob(const StagingDeps& deps, const Claim& claim) {
  StageJob job(deps, claim);
  return job.Run();
}

}  // namespace devserver
