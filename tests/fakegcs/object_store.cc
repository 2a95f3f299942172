#include "tests/fakegcs/object_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <Poco/Base64Encoder.h>
#include <Poco/MD5Engine.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <system_error>

#include "fcgi/storage/crc32c.h"

namespace devserver::fakegcs {
namespace {

int64_t MtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

std::string Base64(const unsigned char* data, size_t n) {
  std::ostringstream out;
  Poco::Base64Encoder encoder(out);
  encoder.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(n));
  encoder.close();
  return out.str();
}

ObjectHashes ComputeHashes(int fd, uint64_t size) {
  Poco::MD5Engine md5;
  uint32_t crc = 0;
  std::vector<char> buf(1 << 20);
  uint64_t off = 0;
  while (off < size) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), size - off));
    const ssize_t got = ::pread(fd, buf.data(), want, static_cast<off_t>(off));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw std::system_error(errno, std::generic_category(), "pread");
    if (got == 0) break;  // Truncated under us; hash what was there.
    md5.update(buf.data(), static_cast<unsigned>(got));
    crc = storage::Crc32cExtend(crc, buf.data(), static_cast<size_t>(got));
    off += static_cast<uint64_t>(got);
  }
  const auto& digest = md5.digest();
  return {Base64(digest.data(), digest.size()), storage::Crc32cBase64(crc)};
}

std::vector<std::string> CollectFiles(const std::string& dir) {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  std::error_code ec;
  // Error-code overloads throughout: tests rename files in and out while we walk.
  fs::recursive_directory_iterator it(dir, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code type_ec;
    if (it->is_regular_file(type_ec)) {
      out.push_back(it->path().lexically_relative(dir).generic_string());
    }
  }
  return out;
}

}  // namespace

OpenObject::OpenObject(int fd, std::string path, uint64_t size, int64_t mtime_ns, dev_t dev,
                       ino_t ino)
    : fd_(fd), path_(std::move(path)), size_(size), mtime_ns_(mtime_ns), dev_(dev), ino_(ino) {}

OpenObject::~OpenObject() { ::close(fd_); }

ObjectStore::ObjectStore(std::string root) : root_(std::move(root)) {}

bool ObjectStore::IsValidBucketName(const std::string& bucket) {
  // A leading dot keeps the root's scratch directories (e.g. ".tmp") out of the namespace.
  return !bucket.empty() && bucket.front() != '.' && bucket.find('/') == std::string::npos;
}

bool ObjectStore::IsValidObjectName(const std::string& name) {
  if (name.empty() || name.front() == '/' || name.back() == '/') return false;
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string::npos) end = name.size();
    const std::string part = name.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return name.find('\0') == std::string::npos;
}

bool ObjectStore::BucketExists(const std::string& bucket) const {
  if (!IsValidBucketName(bucket)) return false;
  struct stat st;
  return ::stat((root_ + "/" + bucket).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

int64_t ObjectStore::BucketMtimeNs(const std::string& bucket) const {
  struct stat st;
  if (::stat((root_ + "/" + bucket).c_str(), &st) != 0) return 0;
  return MtimeNs(st);
}

std::unique_ptr<OpenObject> ObjectStore::Open(const std::string& bucket,
                                              const std::string& name) const {
  if (!IsValidBucketName(bucket) || !IsValidObjectName(name)) return nullptr;
  std::string path = root_ + "/" + bucket + "/" + name;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return nullptr;
  }
  return std::make_unique<OpenObject>(fd, std::move(path), static_cast<uint64_t>(st.st_size),
                                      MtimeNs(st), st.st_dev, st.st_ino);
}

std::vector<std::string> ObjectStore::ListNames(const std::string& bucket) const {
  if (!IsValidBucketName(bucket)) return {};
  std::vector<std::string> names = CollectFiles(root_ + "/" + bucket);
  std::sort(names.begin(), names.end());
  return names;
}

ObjectHashes ObjectStore::Hashes(const OpenObject& object) {
  const CacheKey key{object.path(), object.dev(), object.ino(), object.size(), object.mtime_ns()};
  std::shared_future<ObjectHashes> future;
  std::promise<ObjectHashes> promise;
  bool compute = false;
  {
    std::lock_guard lock(mu_);
    auto it = hash_cache_.find(key);
    if (it == hash_cache_.end()) {
      future = promise.get_future().share();
      hash_cache_.emplace(key, future);
      compute = true;
    } else {
      future = it->second;
    }
  }
  if (compute) {
    try {
      promise.set_value(ComputeHashes(object.fd(), object.size()));
    } catch (...) {
      {
        std::lock_guard lock(mu_);
        hash_cache_.erase(key);
      }
      promise.set_exception(std::current_exception());
    }
  }
  return future.get();
}

}  // namespace devserver::fakegcs
