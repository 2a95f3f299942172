// ArchiveStore over a local directory: gs://<bucket>/<name> is <root>/<bucket>/<name>.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <string_view>
#include <system_error>
#include <vector>

#include "fcgi/base/env.h"
#include "fcgi/storage/archive_store.h"
#include "fcgi/storage/object_checksum.h"
#include "fcgi/storage/object_file.h"

namespace devserver::storage {
namespace {

// Copy step: progress and cancellation are looked at between steps.
constexpr size_t kCopyStep = 4 << 20;
// Buffer of the read/write path (used when bytes must be seen, or copy_file_range can't run).
constexpr size_t kBufferSize = 1 << 20;

int64_t MtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

// Path components that could leave the directory they are joined to, or that a file system
// path cannot express.
bool BadComponent(std::string_view c) {
  return c.empty() || c == "." || c == ".." || c.find('\0') != std::string_view::npos;
}

bool ValidRelativePath(std::string_view path) {
  size_t start = 0;
  for (;;) {
    const size_t slash = path.find('/', start);
    if (BadComponent(path.substr(start, slash - start))) return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

bool ValidBucket(std::string_view bucket) {
  return !BadComponent(bucket) && bucket.find('/') == std::string_view::npos;
}

class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  int fd_;
};

class LocalDirStore : public ArchiveStore {
 public:
  LocalDirStore(std::string root, Env* env)
      : root_(std::move(root)), env_(env != nullptr ? env : Env::Default()) {
    while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
  }

  Status List(const std::string& bucket, const std::string& prefix,
              std::vector<ObjectInfo>* objects) override {
    objects->clear();
    if (!ValidBucket(bucket))
      return Status::InvalidArgument("invalid bucket name '" + bucket + "'");
    // Only the complete directories of the prefix are walked into; its last, partial component
    // merely filters names.
    const size_t slash = prefix.rfind('/');
    const std::string dir_part = slash == std::string::npos ? "" : prefix.substr(0, slash);
    if (!dir_part.empty() && !ValidRelativePath(dir_part)) {
      return Status::InvalidArgument("invalid prefix '" + prefix + "' for gs://" + bucket);
    }
    const std::string bucket_dir = root_ + "/" + bucket;
    struct stat st {};
    if (stat(bucket_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return Status::NotFound("gs://" + bucket + ": no such bucket (no directory " + bucket_dir +
                              ")");
    }
    const std::filesystem::path start(dir_part.empty() ? bucket_dir : bucket_dir + "/" + dir_part);
    std::error_code ec;
    if (!std::filesystem::is_directory(start, ec)) return Status::Ok();

    std::filesystem::recursive_directory_iterator it(start, ec);
    if (ec) return Status::IOError("list " + start.string(), ec.value());
    for (; it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) return Status::IOError("list " + start.string(), ec.value());
      if (!it->is_regular_file(ec)) continue;
      std::string name = it->path().lexically_relative(bucket_dir).generic_string();
      if (!name.starts_with(prefix)) continue;
      ObjectInfo info;
      Status s = Stat(bucket, name, &info);
      if (s.code() == Status::Code::kNotFound) continue;  // removed while we walked
      if (!s.ok()) return s;
      objects->push_back(std::move(info));
    }
    if (ec) return Status::IOError("list " + start.string(), ec.value());
    std::sort(objects->begin(), objects->end(),
              [](const ObjectInfo& a, const ObjectInfo& b) { return a.name < b.name; });
    return Status::Ok();
  }

  Status Stat(const std::string& bucket, const std::string& name, ObjectInfo* info) override {
    std::string path;
    Status s = PathOf(bucket, name, &path);
    if (!s.ok()) return s;
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) return StatError(bucket, name, path, errno);
    if (!S_ISREG(st.st_mode)) return Status::NotFound(Url(bucket, name) + ": not found");
    Fill(bucket, name, st, info);
    return Status::Ok();
  }

  Status ReadSmall(const std::string& bucket, const std::string& name, size_t max_bytes,
                   std::string* contents) override {
    std::string path;
    Status s = PathOf(bucket, name, &path);
    if (!s.ok()) return s;
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return StatError(bucket, name, path, errno);
    FdCloser closer(fd);
    struct stat st {};
    if (fstat(fd, &st) != 0) return Status::IOError("stat " + path, errno);
    if (!S_ISREG(st.st_mode)) return Status::NotFound(Url(bucket, name) + ": not found");
    if (static_cast<uint64_t>(st.st_size) > max_bytes) {
      return Status::Failed(Url(bucket, name) + ": " + std::to_string(st.st_size) +
                            " bytes, more than the " + std::to_string(max_bytes) + " expected");
    }
    contents->assign(static_cast<size_t>(st.st_size), '\0');
    size_t done = 0;
    while (done < contents->size()) {
      const ssize_t n = read(fd, contents->data() + done, contents->size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Status::IOError("read " + path, errno);
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    contents->resize(done);
    return Status::Ok();
  }

  Status FetchObject(const ObjectInfo& object, const std::string& dest_path,
                     FetchObserver* observer, bool /*resume: a local copy starts over*/) override {
    const std::string url = object.Url();
    std::string path;
    Status s = PathOf(object.bucket, object.name, &path);
    if (!s.ok()) return s;
    const int src = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (src < 0) return StatError(object.bucket, object.name, path, errno);
    FdCloser closer(src);
    struct stat before {};
    if (fstat(src, &before) != 0) return Status::IOError("stat " + path, errno);
    if (!S_ISREG(before.st_mode)) return Status::NotFound(url + ": not found");
    s = CheckVersion(object, before, "");
    if (!s.ok()) return s;

    ObjectFile dest(env_);
    s = dest.Open(dest_path);
    if (s.ok()) s = dest.Reserve(object.size);
    if (!s.ok()) return s;
    ObjectChecksum checksum(object);
    // Checksums need the bytes in memory; without one, the kernel copies them. Only on the
    // real Env: copy_file_range writes without Env::Write, where an injected fault could not
    // reach it.
    bool copied = false;
    if (!checksum.active() && env_ == Env::Default()) {
      s = CopyInKernel(src, path, object, &dest, observer, &copied);
      if (!s.ok()) return s;
    }
    if (!copied) {
      s = CopyThroughBuffer(src, path, object, &dest, &checksum, observer);
      if (!s.ok()) return s;
    }
    if (dest.size() != object.size) {
      return Status::Failed(url + ": copied " + std::to_string(dest.size()) + " bytes, expected " +
                            std::to_string(object.size));
    }
    struct stat after {};
    if (fstat(src, &after) != 0) return Status::IOError("stat " + path, errno);
    s = CheckVersion(object, after, " during download");
    if (!s.ok()) return s;
    s = checksum.Verify("metadata");
    if (!s.ok()) return Status::Failed(url + ": " + s.message());
    s = dest.SyncAndClose();
    if (!s.ok()) return s;
    if (observer != nullptr) observer->OnProgress(object.size, object.size);
    return Status::Ok();
  }

 private:
  static std::string Url(const std::string& bucket, const std::string& name) {
    return "gs://" + bucket + "/" + name;
  }

  Status PathOf(const std::string& bucket, const std::string& name, std::string* path) const {
    if (!ValidBucket(bucket) || !ValidRelativePath(name)) {
      return Status::InvalidArgument(Url(bucket, name) + ": not a name a local store can hold");
    }
    *path = root_ + "/" + bucket + "/" + name;
    return Status::Ok();
  }

  static Status StatError(const std::string& bucket, const std::string& name,
                          const std::string& path, int err) {
    if (err == ENOENT || err == ENOTDIR) return Status::NotFound(Url(bucket, name) + ": not found");
    return Status::IOError("open " + path, err);
  }

  static void Fill(const std::string& bucket, const std::string& name, const struct stat& st,
                   ObjectInfo* info) {
    info->bucket = bucket;
    info->name = name;
    info->size = static_cast<uint64_t>(st.st_size);
    info->generation = MtimeNs(st);
    info->crc32c.clear();
    info->md5.clear();
  }

  // The file must still be the version `object` describes (generation 0: any version).
  static Status CheckVersion(const ObjectInfo& object, const struct stat& st, const char* when) {
    if (object.generation != 0 && MtimeNs(st) != object.generation) {
      return Status::Failed(object.Url() + ": object replaced" + when + " (generation " +
                            std::to_string(object.generation) + ", now " +
                            std::to_string(MtimeNs(st)) + ")");
    }
    if (static_cast<uint64_t>(st.st_size) != object.size) {
      return Status::Failed(object.Url() + ": object replaced" + when + " (size " +
                            std::to_string(object.size) + ", now " + std::to_string(st.st_size) +
                            ")");
    }
    return Status::Ok();
  }

  static Status Cancelled(const ObjectInfo& object, FetchObserver* observer) {
    if (observer != nullptr && observer->Cancelled()) {
      return Status::Failed(object.Url() + ": cancelled");
    }
    return Status::Ok();
  }

  // copy_file_range: no bytes through user space, and reflinks where the file system has them.
  // Leaves *copied false when the kernel cannot copy between these files.
  static Status CopyInKernel(int src, const std::string& src_path, const ObjectInfo& object,
                             ObjectFile* dest, FetchObserver* observer, bool* copied) {
    *copied = false;
    while (dest->size() < object.size) {
      Status s = Cancelled(object, observer);
      if (!s.ok()) return s;
      const size_t want =
          static_cast<size_t>(std::min<uint64_t>(kCopyStep, object.size - dest->size()));
      const ssize_t n = copy_file_range(src, nullptr, dest->fd(), nullptr, want, 0);
      if (n < 0) {
        const int err = errno;
        if (err == EINTR) continue;
        if (dest->size() == 0 &&
            (err == EXDEV || err == EINVAL || err == ENOSYS || err == EOPNOTSUPP)) {
          return Status::Ok();
        }
        return Status::IOError("copy " + src_path + " to " + dest->path(), err);
      }
      if (n == 0) break;  // the source shrank; the size check reports it
      dest->Advanced(static_cast<uint64_t>(n));
      if (observer != nullptr) observer->OnProgress(dest->size(), object.size);
    }
    *copied = true;
    return Status::Ok();
  }

  static Status CopyThroughBuffer(int src, const std::string& src_path, const ObjectInfo& object,
                                  ObjectFile* dest, ObjectChecksum* checksum,
                                  FetchObserver* observer) {
    std::vector<char> buf(kBufferSize);
    uint64_t since_progress = 0;
    while (dest->size() < object.size) {
      Status s = Cancelled(object, observer);
      if (!s.ok()) return s;
      const size_t want =
          static_cast<size_t>(std::min<uint64_t>(buf.size(), object.size - dest->size()));
      const ssize_t n = read(src, buf.data(), want);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Status::IOError("read " + src_path, errno);
      if (n == 0) break;
      checksum->Update(buf.data(), static_cast<size_t>(n));
      s = dest->Append(buf.data(), static_cast<size_t>(n));
      if (!s.ok()) return s;
      since_progress += static_cast<uint64_t>(n);
      if (since_progress >= kCopyStep && observer != nullptr) {
        observer->OnProgress(dest->size(), object.size);
        since_progress = 0;
      }
    }
    return Status::Ok();
  }

  std::string root_;
  Env* const env_;  // the destination files' file system
};

}  // namespace

std::unique_ptr<ArchiveStore> MakeLocalDirStore(const std::string& root, Env* env) {
  return std::make_unique<LocalDirStore>(root, env);
}

}  // namespace devserver::storage
