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

Status StagingInstallContext::PlaceFetched(const std::string& object_name,
                                           const std::string& relative_path) {
  std::string to;
  Status s = PrepareOutputPath(relative_path, &to);
  if (!s.ok()) return s;
  s = env_->Rename(FetchedPath(object_name), to);
  if (s.ok()) placed_[relative_path] = object_name;
  return s;
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
  Status s = extract::ExtractArchive(FetchedPath(request.object_name), out_dir_,
                                     {request.include, request.exclude}, limits_, cancelled_,
                                     &stats, env_);
  if (s.ok()) {
    // bench/run reads the duration from this line to compare with tar.
    const int64_t ms = (env_->MonotonicMicros() - started) / 1000;
    DS_LOG(kInfo) << "extracted " << request.object_name << ": " << stats.files << " files, "
                  << stats.bytes_written << " bytes from " << stats.entries << " members in " << ms
                  << " ms";
  }
  return s;
}

Status StagingInstallContext::DeclarePayload(const std::string& relative_path, bool is_delta) {
  Status s = CheckRelativePath("payload path", relative_path);
  if (!s.ok()) return Status::Failed(s.message());
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
  // bench/run reads the cost of staging's hashing from this line.
  DS_LOG(kInfo) << "digested payload " << relative_path << ": " << declared.digest.size
                << " bytes in " << (env_->MonotonicMicros() - started) / 1000 << " ms";
  payloads_[relative_path] = std::move(declared);
  return Status::Ok();
}

}  // namespace devserver
