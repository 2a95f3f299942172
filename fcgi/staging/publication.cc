#include "fcgi/staging/publication.h"

#include <sys/stat.h>

#include <filesystem>
#include <set>
#include <unordered_set>
#include <vector>

#include "fcgi/base/log.h"
#include "fcgi/build/build_version.h"
#include "fcgi/metrics/metrics.h"

namespace devserver {
namespace {

namespace fs = std::filesystem;

// Up to this many files are made durable one by one; more (an unpacked archive) with syncfs.
constexpr size_t kFilesSyncedOneByOne = 16;

struct Output {
  std::vector<state::StagedFile> files;  // files and symlinks, relative to the output dir
  std::vector<bool> regular;             // per file: a regular file (else a symlink)
  std::vector<std::string> dirs;         // directories, relative to the output dir
};

Status ListOutput(const std::string& out_dir, Output* out) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(out_dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    const fs::directory_entry& entry = *it;
    const std::string rel = entry.path().lexically_relative(out_dir).string();
    if (entry.is_directory(ec) && !entry.is_symlink(ec)) {
      out->dirs.push_back(rel);
      continue;
    }
    state::StagedFile file;
    file.path = rel;
    bool regular = false;
    if (entry.is_symlink(ec)) {
      file.size = 0;
    } else if (entry.is_regular_file(ec)) {
      file.size = static_cast<int64_t>(entry.file_size(ec));
      regular = true;
    } else {
      return Status::Failed("plugin produced " + file.path + ", which is not a file or symlink");
    }
    out->files.push_back(std::move(file));
    out->regular.push_back(regular);
  }
  if (ec) return Status::IOError("walking " + out_dir, ec.value());
  return Status::Ok();
}

// Puts each declared payload's facts on its file.
Status AttachPayloadFacts(const std::map<std::string, DeclaredPayload>& payloads,
                          const std::string& build, Output* out) {
  const std::string version = BuildOsVersion(fs::path(build).filename().string());
  size_t attached = 0;
  for (size_t i = 0; i < out->files.size(); ++i) {
    state::StagedFile& file = out->files[i];
    auto it = payloads.find(file.path);
    if (it == payloads.end()) continue;
    const PayloadDigest& digest = it->second.digest;
    if (!out->regular[i] || digest.size != file.size) {
      return Status::Failed("payload " + file.path + " changed after it was read");
    }
    file.sha1 = digest.sha1_base64;
    file.sha256 = digest.sha256_base64;
    file.payload =
        state::PayloadFacts{digest.sha256_hex, digest.metadata_size, it->second.is_delta, version};
    ++attached;
  }
  if (attached != payloads.size()) return Status::Failed("a declared payload left the output");
  return Status::Ok();
}

// Names the object each unchanged file is (a file whose size no longer matches is not one).
void AttachSources(const std::map<std::string, VerbatimSource>& sources, Output* out) {
  for (size_t i = 0; i < out->files.size(); ++i) {
    state::StagedFile& file = out->files[i];
    auto it = sources.find(file.path);
    if (it == sources.end() || !out->regular[i] || it->second.size != file.size) continue;
    file.source_object = it->second.object;
    file.source_generation = it->second.generation;
  }
}

// Moves an output tree into the build directory with as few renames as it can, because they
// run inside the state's write transaction, which every worker's heartbeats wait for: a
// directory the build does not have yet moves whole (an unpacked tree of 12,000 files is one
// rename), one it has is merged entry by entry. Files to keep (another artifact lists them)
// stay where they are. A failure puts back what moved.
class TreeMover {
 public:
  TreeMover(Env* env, std::string out_dir, std::string build_dir,
            const std::unordered_set<std::string>& keep)
      : env_(env), out_dir_(std::move(out_dir)), build_dir_(std::move(build_dir)), keep_(keep) {
    for (const std::string& path : keep_) {
      for (size_t slash = path.find('/'); slash != std::string::npos;
           slash = path.find('/', slash + 1)) {
        dirs_with_kept_.insert(path.substr(0, slash));
      }
    }
  }

  Status Move(const std::string& rel_dir) {
    std::error_code ec;
    const std::string from_dir = rel_dir.empty() ? out_dir_ : out_dir_ + "/" + rel_dir;
    std::vector<fs::directory_entry> entries;
    for (const auto& entry : fs::directory_iterator(from_dir, ec)) entries.push_back(entry);
    if (ec) return Status::IOError("walking " + from_dir, ec.value());
    for (const fs::directory_entry& entry : entries) {
      const std::string name = entry.path().filename().string();
      const std::string rel = rel_dir.empty() ? name : rel_dir + "/" + name;
      const std::string dest = build_dir_ + "/" + rel;
      struct stat st {};
      const bool dest_exists = lstat(dest.c_str(), &st) == 0;
      const bool is_dir = entry.is_directory(ec) && !entry.is_symlink(ec);
      Status s;
      if (is_dir && dest_exists && S_ISDIR(st.st_mode)) {
        s = Move(rel);  // the build has this directory: merge into it
      } else if (is_dir && (dest_exists || dirs_with_kept_.count(rel) != 0)) {
        return Status::Failed(dest + " is in the way of the directory " + rel);
      } else if (keep_.count(rel) != 0) {
        continue;  // another artifact's file: left as it is
      } else {
        s = Rename(entry.path().string(), dest);
      }
      if (!s.ok()) return s;
    }
    return Status::Ok();
  }

  void PutBack() {
    for (auto it = moved_.rbegin(); it != moved_.rend(); ++it) {
      Status s = env_->Rename(it->second, it->first);
      if (!s.ok()) DS_LOG(kWarning) << "putting back after a failed publication: " << s.message();
    }
    moved_.clear();
  }

  // The directories that got new names.
  std::set<std::string> Parents() const {
    std::set<std::string> parents;
    for (const auto& [from, to] : moved_) parents.insert(fs::path(to).parent_path().string());
    return parents;
  }

 private:
  Status Rename(const std::string& from, const std::string& to) {
    Status s = env_->Rename(from, to);
    if (s.ok()) moved_.emplace_back(from, to);
    return s;
  }

  Env* const env_;
  const std::string out_dir_;
  const std::string build_dir_;
  const std::unordered_set<std::string>& keep_;
  std::unordered_set<std::string> dirs_with_kept_;  // directories above a kept file
  std::vector<std::pair<std::string, std::string>> moved_;
};

}  // namespace

Status PublishOutput(Env* env, state::StateDb* db, const state::Claim& claim, StagingTempDir* temp,
                     const std::string& build_dir,
                     const std::map<std::string, DeclaredPayload>& payloads,
                     const std::map<std::string, VerbatimSource>& sources, size_t* count) {
  const std::string out_dir = temp->out_dir();
  Output out;
  Status s = ListOutput(out_dir, &out);
  if (!s.ok()) return s;
  s = AttachPayloadFacts(payloads, claim.build, &out);
  if (!s.ok()) return s;
  AttachSources(sources, &out);

  // Data first: everything is durable before it gets its public name.
  const bool bulk = out.files.size() > kFilesSyncedOneByOne;
  if (bulk) {
    s = env->SyncFileSystem(out_dir);
  } else {
    for (size_t i = 0; s.ok() && i < out.files.size(); ++i) {
      if (out.regular[i]) s = env->SyncPath(out_dir + "/" + out.files[i].path);
    }
    for (size_t i = 0; s.ok() && i < out.dirs.size(); ++i) {
      s = env->SyncPath(out_dir + "/" + out.dirs[i]);
    }
  }
  if (!s.ok()) return s;
  // Downloads are done with: nothing of them may outlive the moment the artifact is staged.
  s = env->RemoveTree(temp->fetch_dir());
  if (!s.ok()) return s;

  std::set<std::string> parents;
  uint64_t placed_bytes = 0;
  size_t placed_files = 0;
  s = db->Publish(claim, out.files, [&](const std::vector<state::StagedFile>& to_place) {
    std::unordered_set<std::string> keep;
    for (const state::StagedFile& f : out.files) keep.insert(f.path);
    for (const state::StagedFile& f : to_place) keep.erase(f.path);
    TreeMover mover(env, out_dir, build_dir, keep);
    Status moved = mover.Move("");
    if (!moved.ok()) {
      // Not published: the build directory shows none of it.
      mover.PutBack();
      return moved;
    }
    parents = mover.Parents();
    placed_files = to_place.size();
    for (const state::StagedFile& f : to_place) placed_bytes += static_cast<uint64_t>(f.size);
    // What is left (files another artifact provides, empty directories, the lock) goes with
    // the staging directory, before anyone can see the artifact staged.
    Status removed = temp->Remove();
    if (!removed.ok()) DS_LOG(kWarning) << "removing " << temp->path() << ": " << removed.message();
    return Status::Ok();
  });
  if (!s.ok()) return s;
  *count = out.files.size();
  metrics::Add("devserver_published_files_total", placed_files);
  metrics::Add("devserver_published_bytes_total", placed_bytes);
  // Staged and visible now; a failure here costs only durability across a crash, which the
  // check on use covers, so it is logged rather than turned into a failure of the artifact.
  if (bulk) {
    s = env->SyncFileSystem(build_dir);
  } else {
    for (const std::string& dir : parents) {
      if (s.ok()) s = env->SyncPath(dir);
    }
  }
  if (!s.ok()) DS_LOG(kWarning) << "after publishing " << claim.artifact << ": " << s.message();
  return Status::Ok();
}

}  // namespace devserver
