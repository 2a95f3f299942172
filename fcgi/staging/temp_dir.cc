#include "fcgi/staging/temp_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <vector>

#include "fcgi/base/log.h"

namespace devserver {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPrefix = ".staging-";
constexpr const char* kArtifactFile = "artifact";
constexpr const char* kGenerationSuffix = ".generation";
constexpr const char* kTrashPrefix = ".removing-";

// An exclusive flock on directory `path`: -1 when it is gone or another holds it. (flock works
// on a directory's descriptor; no file is created, so no sweeper can make a new lock of its own
// in a directory another is removing.)
int LockDirectory(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Small files of a staging directory: written whole through the Env, read directly.
Status WriteSmallFile(Env* env, const std::string& path, const std::string& contents) {
  int fd = -1;
  Status s = env->Open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644, &fd);
  if (!s.ok()) return s;
  s = env->Write(fd, path, contents.data(), contents.size());
  Status closed = env->Close(fd, path);
  return s.ok() ? closed : s;
}

std::string ReadSmallFile(const std::string& path) {
  std::string contents;
  if (!ReadFile(path, &contents).ok()) return "";
  while (!contents.empty() && contents.back() == '\n') contents.pop_back();
  return contents;
}

int64_t ParseInt(const std::string& text) {
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size() ? value : -1;
}

// Moves the downloads of a dead directory's fetch/ that the sweeper can resume into its own.
void Adopt(Env* env, const std::string& dead_dir, const TempDirSweep& sweep,
           std::map<std::string, uint64_t>* adopted) {
  std::error_code ec;
  const std::string fetch = dead_dir + "/fetch";
  for (const auto& entry : fs::directory_iterator(fetch, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.ends_with(kGenerationSuffix)) continue;
    auto wanted = sweep.generations.find(name);
    if (wanted == sweep.generations.end() || wanted->second == 0) continue;
    const int64_t generation = ParseInt(ReadSmallFile(entry.path().string() + kGenerationSuffix));
    if (generation != wanted->second) continue;  // another version of the object: useless
    std::error_code size_ec;
    const uint64_t size = entry.file_size(size_ec);
    if (size_ec || size == 0) continue;
    auto have = adopted->find(name);
    if (have != adopted->end() && have->second >= size) continue;
    const std::string into = sweep.adopt_into + "/" + name;
    if (!env->Rename(entry.path().string() + kGenerationSuffix, into + kGenerationSuffix).ok() ||
        !env->Rename(entry.path().string(), into).ok()) {
      continue;  // left to be swept with its directory
    }
    (*adopted)[name] = size;
    DS_LOG(kInfo) << "adopting " << size << " bytes of " << name << " from " << dead_dir;
  }
}

}  // namespace

std::string StagingTempDir::NameFor(int64_t token) { return kPrefix + std::to_string(token); }

int64_t StagingTempDir::TokenOf(const std::string& name) {
  const std::string prefix = kPrefix;
  if (!name.starts_with(prefix) || name.size() == prefix.size()) return -1;
  for (size_t i = prefix.size(); i < name.size(); ++i) {
    if (std::isdigit(static_cast<unsigned char>(name[i])) == 0) return -1;
  }
  return ParseInt(name.substr(prefix.size()));
}

Status StagingTempDir::Create(Env* env, const std::string& build_dir, int64_t token,
                              const std::string& artifact, std::unique_ptr<StagingTempDir>* dir) {
  std::unique_ptr<StagingTempDir> made(new StagingTempDir(env, build_dir + "/" + NameFor(token)));
  bool created = false;
  Status s = env->MakeDirectory(made->path_, 0755, &created);
  if (s.ok() && !created) s = Status::Failed(made->path_ + " already exists");
  if (s.ok()) {
    made->lock_fd_ = LockDirectory(made->path_);
    if (made->lock_fd_ < 0) s = Status::IOError("lock " + made->path_, errno);
  }
  if (s.ok()) s = WriteSmallFile(env, made->path_ + "/" + kArtifactFile, artifact + "\n");
  for (const std::string& sub : {made->fetch_dir(), made->out_dir()}) {
    if (s.ok()) s = env->MakeDirectory(sub, 0755, nullptr);
  }
  if (!s.ok()) {
    (void)made->Remove();
    return s;
  }
  *dir = std::move(made);
  return Status::Ok();
}

StagingTempDir::~StagingTempDir() {
  if (lock_fd_ >= 0) close(lock_fd_);  // releases the lock
}

Status StagingTempDir::NoteGeneration(const std::string& fetch_path, int64_t generation) {
  return WriteSmallFile(env_, fetch_path + kGenerationSuffix, std::to_string(generation) + "\n");
}

Status StagingTempDir::ClearOutput() {
  Status s = env_->RemoveTree(out_dir());
  if (s.ok()) s = env_->MakeDirectory(out_dir(), 0755, nullptr);
  return s;
}

Status StagingTempDir::Remove() { return env_->RemoveTree(path_); }

BuildTrash::BuildTrash(Env* env, std::string build_dir, const state::Owner& owner)
    : env_(env), build_dir_(std::move(build_dir)) {
  static std::atomic<uint64_t> next{0};
  dir_ = build_dir_ + "/" + kTrashPrefix + std::to_string(owner.pid) + "-" +
         std::to_string(owner.start_ticks) + "-" + std::to_string(next.fetch_add(1));
}

Status BuildTrash::Take(const std::vector<std::string>& paths) {
  bool created = false;
  int err = 0;
  Status s = env_->MakeDirectory(dir_, 0700, &created, &err);
  // No build directory (evicted, or never made): none of its files is left to hide.
  if (err == ENOENT) return Status::Ok();
  if (s.ok() && !created) s = Status::Failed(dir_ + " already exists");
  if (!s.ok()) return s;
  for (const std::string& path : paths) {
    const std::string from = build_dir_ + "/" + path;
    struct stat st {};
    if (lstat(from.c_str(), &st) != 0 && errno == ENOENT) continue;  // nothing to hide
    s = env_->Rename(from, dir_ + "/" + std::to_string(moved_.size()));
    if (!s.ok()) {
      PutBack();
      return s;
    }
    moved_.push_back(path);
  }
  return Status::Ok();
}

void BuildTrash::PutBack() {
  for (size_t i = 0; i < moved_.size(); ++i) {
    Status s = env_->Rename(dir_ + "/" + std::to_string(i), build_dir_ + "/" + moved_[i]);
    if (!s.ok()) DS_LOG(kWarning) << "putting back a cleaned file: " << s.message();
  }
  moved_.clear();
}

void BuildTrash::Empty() {
  if (moved_.empty() && !fs::exists(dir_)) return;
  Status s = env_->RemoveTree(dir_);
  if (!s.ok()) DS_LOG(kWarning) << "emptying the trash: " << s.message();
  moved_.clear();
}

int SweepTempDirs(Env* env, const std::string& build_dir, const TempDirSweep& sweep,
                  std::map<std::string, uint64_t>* adopted) {
  int left = 0;
  std::error_code ec;
  std::vector<std::pair<int64_t, std::string>> dirs;
  for (const auto& entry : fs::directory_iterator(build_dir, ec)) {
    const std::string name = entry.path().filename().string();
    const int64_t token = StagingTempDir::TokenOf(name);
    if (token >= 0 && token != sweep.own_token) dirs.emplace_back(token, entry.path().string());
    int pid = 0;
    long long start = 0;
    if (name.starts_with(kTrashPrefix) &&
        std::sscanf(name.c_str() + std::strlen(kTrashPrefix), "%d-%lld", &pid, &start) == 2 &&
        state::ProcessStartTicks(pid) != start) {
      Status s = env->RemoveTree(entry.path().string());  // a dead process's trash
      if (!s.ok()) {
        DS_LOG(kWarning) << "sweeping leftover trash: " << s.message();
        ++left;
      }
    }
  }
  for (const auto& [token, dir] : dirs) {
    if (sweep.claim_live && sweep.claim_live(token)) continue;
    // A stager that lost its claim may still run (paused, or its heartbeats failed): it holds
    // the lock, and cleans up after itself once it notices. So does another sweeper.
    const int lock = LockDirectory(dir);
    if (lock < 0) continue;
    struct Unlock {
      int fd;
      ~Unlock() { close(fd); }
    } unlock{lock};
    const std::string artifact = ReadSmallFile(dir + "/" + kArtifactFile);
    if (!sweep.artifact.empty() && artifact == sweep.artifact) {
      Adopt(env, dir, sweep, adopted);
    } else if (!artifact.empty() && sweep.awaits_adoption && sweep.awaits_adoption(artifact)) {
      continue;
    }
    Status s = env->RemoveTree(dir);
    if (!s.ok()) {
      DS_LOG(kWarning) << "sweeping a dead staging directory: " << s.message();
      ++left;
    }
  }
  return left;
}

}  // namespace devserver
