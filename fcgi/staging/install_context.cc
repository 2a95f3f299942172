#include "fcgi/staging/install_context.h"

#include <sys/stat.h>

#include <filesystem>
#include <utility>

#include "fcgi/base/log.h"
#include "fcgi/build/build_ref.h"

namespace devserver {

StagingInstallContext::StagingInstallContext(Env* env, std::string fetch_dir, std::string out_dir,
                                             plugin::BuildFolder folder,
                                             const extract::ExtractLimits& limits,
                                             std::function<bool()> cancelled)
    : env_(env),
      fetch_dir_(std::move(fetch_dir)),
      out_dir_(std::move(out_dir)),
      folder_(std::move(folder)),
      limits_(limits),
      cancelled_(std::move(cancelled)) {}

std::string StagingInstallContext::FlatName(std::string name) {
  for (char& c : name) {
    if (c == '/') c = '%';
  }
  return name;
}

std::string StagingInstallContext::FetchedPath(const std::string& object_name) const {
  return fetch_dir_ + "/" + FlatName(object_name);
}

Status StagingInstallContext::PrepareOutputPath(const std::string& relative_path,
                                                std::string* full_path) {
  // The same rules as any path built from outside input: relative, no "..", no hidden names.
  Status s = CheckRelativePath("output path", relative_path);
  if (!s.ok()) return Status::Failed(s.message());
  *full_path = out_dir_ + "/" + relative_path;
  const size_t slash = relative_path.rfind('/');
  if (slash == std::string::npos) return Status::Ok();
  return MakeDirectories(env_, out_dir_ + "/" + relative_path.substr(0, slash), 0755);
}

std::shared_ptr<FetchProgress> StagingInstallContext::Arriving(
    const std::string& object_name) const {
  auto it = downloads_.find(object_name);
  if (it == downloads_.end() || it->second->verified()) return nullptr;
  return it->second;
}

Status StagingInstallContext::PlaceFetched(const std::string& object_name,
                                           const std::string& relative_path) {
  std::string to;
  Status s = PrepareOutputPath(relative_path, &to);
  if (!s.ok()) return s;
  if (Arriving(object_name) != nullptr) {
    later_moves_.push_back({object_name, relative_path, to});
    return Status::Ok();
  }
  return Move(object_name, relative_path, to);
}

Status StagingInstallContext::Move(const std::string& object_name, const std::string& relative_path,
                                   const std::string& to) {
  Status s = env_->Rename(FetchedPath(object_name), to);
  if (s.ok()) placed_[relative_path] = object_name;
  return s;
}

Status StagingInstallContext::Complete() {
  Status first;
  for (const LaterMove& move : later_moves_) {
    // Moved now, the file would silently replace one an Extract made meanwhile; in place, it
    // would have made that Extract fail. Either way the artifact is refused.
    struct stat st {};
    Status s = lstat(move.to.c_str(), &st) == 0
                   ? Status::Failed(move.relative_path + " is both a fetched object and unpacked")
                   : Move(move.object_name, move.relative_path, move.to);
    if (first.ok()) first = s;
  }
  later_moves_.clear();
  const int64_t downloaded_us = env_->MonotonicMicros();
  for (LaterDigest& later : later_digests_) {
    auto [s, digest] = later.result.get();
    if (first.ok()) first = s;
    if (!s.ok()) continue;
    // The cost the download did not hide: what was left to hash once it was verified.
    DS_LOG(kInfo) << "digested payload " << later.relative_path << ": " << digest.size
                  << " bytes while it downloaded, the last of them in "
                  << (env_->MonotonicMicros() - downloaded_us) / 1000 << " ms after";
    payloads_[later.relative_path] = DeclaredPayload{std::move(digest), later.is_delta};
  }
  later_digests_.clear();
  return first;
}

Status StagingInstallContext::Link(const std::string& target, const std::string& relative_path) {
  // Resolved from the link's own directory, the target must stay inside the build.
  const std::filesystem::path resolved =
      (std::filesystem::path("/build") / relative_path).parent_path() / target;
  const std::string normal = resolved.lexically_normal().string();
  if (target.empty() || target[0] == '/' || normal.rfind("/build/", 0) != 0) {
    return Status::Failed("link " + relative_path + " -> " + target + " leaves the build");
  }
  std::string path;
  Status s = PrepareOutputPath(relative_path, &path);
  if (!s.ok()) return s;
  return env_->Symlink(target, path, nullptr);
}

Status StagingInstallContext::Extract(const plugin::ExtractRequest& request) {
  extract::ExtractStats stats;
  const int64_t started = env_->MonotonicMicros();
  int64_t waited_us = 0;
  Status s;
  if (std::shared_ptr<FetchProgress> arriving = Arriving(request.object_name)) {
    // Unpacked as it arrives; done only once the download is verified, so nothing unpacked
    // from bytes a checksum refused is ever published.
    FollowingReader reader(arriving, cancelled_);
    s = extract::ExtractArchive(&reader, FetchedPath(request.object_name), out_dir_,
                                {request.include, request.exclude}, limits_, cancelled_, &stats,
                                env_);
    if (s.ok()) s = reader.WaitVerified();
    waited_us = reader.waited_micros();
    if (reader.Restarted()) {
      install_again_ = true;
      return Status::Failed(request.object_name + ": " + FollowingReader::kRestarted +
                            " while it was unpacked");
    }
  } else {
    s = extract::ExtractArchive(FetchedPath(request.object_name), out_dir_,
                                {request.include, request.exclude}, limits_, cancelled_, &stats,
                                env_);
  }
  if (s.ok()) {
    // bench/run reads the duration from this line to compare with tar: the extraction's own
    // time, not the time it waited for the download.
    const int64_t ms = (env_->MonotonicMicros() - started - waited_us) / 1000;
    DS_LOG(kInfo) << "extracted " << request.object_name << ": " << stats.files << " files, "
                  << stats.bytes_written << " bytes from " << stats.entries << " members in " << ms
                  << " ms";
  }
  return s;
}

Status StagingInstallContext::DeclarePayload(const std::string& relative_path, bool is_delta) {
  Status s = CheckRelativePath("payload path", relative_path);
  if (!s.ok()) return Status::Failed(s.message());
  for (const LaterMove& move : later_moves_) {
    if (move.relative_path != relative_path) continue;
    // Still arriving: hashed as it does, beside the download.
    std::shared_ptr<FetchProgress> arriving = downloads_[move.object_name];
    LaterDigest later;
    later.relative_path = relative_path;
    later.is_delta = is_delta;
    later.result = std::async(std::launch::async, [arriving, cancelled = cancelled_] {
      PayloadDigest digest;
      Status digested = DigestPayload(arriving, cancelled, &digest);
      return std::make_pair(digested, digest);
    });
    later_digests_.push_back(std::move(later));
    return Status::Ok();
  }
  const std::string path = out_dir_ + "/" + relative_path;
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return Status::Failed("declared payload " + relative_path + " is not a file of the output");
  }
  // Read now, while the fresh bytes are still in the page cache.
  DeclaredPayload declared;
  declared.is_delta = is_delta;
  const int64_t started = env_->MonotonicMicros();
  s = DigestPayload(path, cancelled_, &declared.digest);
  if (!s.ok()) return s;
  DS_LOG(kInfo) << "digested payload " << relative_path << ": " << declared.digest.size
                << " bytes in " << (env_->MonotonicMicros() - started) / 1000 << " ms";
  payloads_[relative_path] = std::move(declared);
  return Status::Ok();
}

}  // namespace devserver
