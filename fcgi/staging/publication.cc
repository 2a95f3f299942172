#include "fcgi/staging/publication.h"

#include <filesystem>
#include <set>
#include <vector>

#include "fcgi/base/log.h"

namespace devserver {
namespace {

namespace fs = std::filesystem;

// Up to this many files are made durable one by one; more (an unpacked archive) with syncfs.
constexpr size_t kFilesSyncedOneByOne = 16;

struct Output {
  std::vector<state::StagedFile> files;
  std::vector<bool> regular;  // per file: a regular file (else a symlink)
};

Status ListOutput(const std::string& out_dir, Output* out) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(out_dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    const fs::directory_entry& entry = *it;
    if (entry.is_directory(ec) && !entry.is_symlink(ec)) continue;
    state::StagedFile file;
    file.path = entry.path().lexically_relative(out_dir).string();
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

// The directories below (and including) `build_dir` that hold the files' new names.
std::set<std::string> ParentDirs(const std::string& build_dir,
                                 const std::vector<state::StagedFile>& files) {
  std::set<std::string> dirs = {build_dir};
  for (const state::StagedFile& f : files) {
    for (fs::path up = fs::path(build_dir + "/" + f.path).parent_path();
         up.string().size() > build_dir.size(); up = up.parent_path()) {
      if (!dirs.insert(up.string()).second) break;
    }
  }
  return dirs;
}

}  // namespace

Status PublishOutput(Env* env, state::StateDb* db, const state::Claim& claim, StagingTempDir* temp,
                     const std::string& build_dir, size_t* count) {
  const std::string out_dir = temp->out_dir();
  Output out;
  Status s = ListOutput(out_dir, &out);
  if (!s.ok()) return s;

  const bool bulk = out.files.size() > kFilesSyncedOneByOne;
  if (bulk) {
    s = env->SyncFileSystem(out_dir);
  } else {
    for (size_t i = 0; s.ok() && i < out.files.size(); ++i) {
      if (out.regular[i]) s = env->SyncPath(out_dir + "/" + out.files[i].path);
    }
  }
  if (!s.ok()) return s;
  // Directories are made before the transaction: they hold nothing until the renames.
  const std::set<std::string> dirs = ParentDirs(build_dir, out.files);
  for (const std::string& dir : dirs) {
    s = MakeDirectories(env, dir, 0755);
    if (!s.ok()) return s;
  }
  // Downloads are done with: nothing of them may outlive the moment the artifact is staged.
  s = env->RemoveTree(temp->fetch_dir());
  if (!s.ok()) return s;

  s = db->Publish(claim, out.files, [&](const std::vector<state::StagedFile>& to_place) {
    std::vector<const state::StagedFile*> moved;
    for (const state::StagedFile& f : to_place) {
      Status renamed = env->Rename(out_dir + "/" + f.path, build_dir + "/" + f.path);
      if (!renamed.ok()) {
        // Not published: put back what moved, so the build directory shows none of it.
        for (const state::StagedFile* back : moved) {
          (void)env->Rename(build_dir + "/" + back->path, out_dir + "/" + back->path);
        }
        return renamed;
      }
      moved.push_back(&f);
    }
    // What is left (files another artifact provides, empty directories, the lock) goes with
    // the staging directory, before anyone can see the artifact staged.
    Status removed = temp->Remove();
    if (!removed.ok()) DS_LOG(kWarning) << "removing " << temp->path() << ": " << removed.message();
    return Status::Ok();
  });
  if (!s.ok()) return s;
  *count = out.files.size();
  // Staged and visible now; a failure here costs only durability across a crash, which the
  // check on use covers, so it is logged rather than turned into a failure of the artifact.
  if (bulk) {
    s = env->SyncFileSystem(build_dir);
  } else {
    for (const std::string& dir : dirs) {
      if (s.ok()) s = env->SyncPath(dir);
    }
  }
  if (!s.ok()) DS_LOG(kWarning) << "after publishing " << claim.artifact << ": " << s.message();
  return Status::Ok();
}

}  // namespace devserver
