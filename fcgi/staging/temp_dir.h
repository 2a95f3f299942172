// A staging's private directory inside its build directory, and the sweep of dead ones.
//
// The directory is named by the claim's fencing token alone (".staging-<token>"): tokens never
// repeat, so no two stagings share a directory and a sweep never mistakes one for another.
// nginx refuses names starting with '.', so nothing in it is ever served. Its stager holds an
// exclusive flock on the directory itself for as long as it works in it (a lock file inside
// could be made again by a sweeper that opens it while another removes it). It holds:
//   artifact    the artifact's name, so a later stager of the same artifact can adopt it;
//   fetch/      downloads (flat names), each with "<name>.generation" naming the object
//               generation its bytes belong to;
//   out/        what the plugin installs, moved into the build directory at publication.
// A directory may be removed, or its downloads adopted, only by a sweeper that holds its
// lock and has checked that its claim is no longer live: a stager that lost its claim but
// still runs keeps its lock, so nobody pulls files from under it; it removes its own
// directory when it finds out.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fcgi/base/env.h"
#include "fcgi/base/fs.h"
#include "fcgi/base/status.h"
#include "fcgi/state/liveness.h"

namespace devserver {

class StagingTempDir {
 public:
  // Creates <build_dir>/.staging-<token> with its lock taken and its artifact named.
  static Status Create(Env* env, const std::string& build_dir, int64_t token,
                       const std::string& artifact, std::unique_ptr<StagingTempDir>* dir);
  ~StagingTempDir();  // releases the lock; the directory stays unless Remove()d
  StagingTempDir(const StagingTempDir&) = delete;
  StagingTempDir& operator=(const StagingTempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string fetch_dir() const { return path_ + "/fetch"; }
  std::string out_dir() const { return path_ + "/out"; }

  // Records which generation of an object the download at `fetch_path` is of, before any
  // of its bytes arrive.
  Status NoteGeneration(const std::string& fetch_path, int64_t generation);
  // Empties the output directory, for an Install that must start again.
  Status ClearOutput();
  // Deletes the directory and everything in it.
  Status Remove();

  // The name of a staging directory of `token`, and the token a name stands for (-1 when it
  // is not exactly ".staging-<digits>").
  static std::string NameFor(int64_t token);
  static int64_t TokenOf(const std::string& name);

 private:
  StagingTempDir(Env* env, std::string path) : env_(env), path_(std::move(path)) {}

  Env* env_;
  std::string path_;
  int lock_fd_ = -1;  // the directory, flock'ed
};

// Files of a build directory on their way out (clean=True): moved under a hidden directory of
// the build, ".removing-<pid>-<start>-<n>" (named by the process, so a crash's leftover is
// recognised and swept), then deleted, or put back when the removal was not committed.
class BuildTrash {
 public:
  BuildTrash(Env* env, std::string build_dir, const state::Owner& owner);
  ~BuildTrash() { Empty(); }
  BuildTrash(const BuildTrash&) = delete;
  BuildTrash& operator=(const BuildTrash&) = delete;

  // Moves each path (relative to the build directory) into the trash; on failure puts back
  // what it moved and says why. Paths already gone are fine.
  Status Take(const std::vector<std::string>& paths);
  // Moves everything taken back to its path.
  void PutBack();
  // Deletes what was taken.
  void Empty();

 private:
  Env* env_;
  std::string build_dir_;
  std::string dir_;
  std::vector<std::string> moved_;
};

// What a sweep of a build directory's staging directories needs to know from its caller.
struct TempDirSweep {
  // Whether the claim of `token` is live (its owner alive, its lease running).
  std::function<bool(int64_t token)> claim_live;
  // Whether a dead directory of `artifact` should wait for that artifact's next stager to
  // adopt its downloads (the artifact is queued, or staging under another claim).
  std::function<bool(const std::string& artifact)> awaits_adoption;
  // The adopting stager: its token (its own directory is never swept), its artifact, where
  // its downloads go, and the generation each object it needs has now (by flat name).
  int64_t own_token = 0;
  std::string artifact;
  std::string adopt_into;
  std::map<std::string, int64_t> generations;
};

// Sweeps the staging directories of `build_dir` whose claims are dead, and trash of dead
// processes. Downloads of the sweep's
// own artifact whose generation still matches are moved into `adopt_into` first (the longest
// partial download of each object wins); `*adopted` lists them by flat name with their sizes.
// Directories of other artifacts that await adoption stay; the rest go. Returns how many dead
// directories it could not remove (each logged), for the caller to sweep again later.
int SweepTempDirs(Env* env, const std::string& build_dir, const TempDirSweep& sweep,
                  std::map<std::string, uint64_t>* adopted);

}  // namespace devserver
