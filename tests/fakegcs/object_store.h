// The fake's view of "GCS": buckets are directories under the root, objects are the regular
// files below them. Nothing is kept in memory except checksums, because tests add and replace
// objects behind the server's back.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace devserver::fakegcs {

struct ObjectHashes {
  std::string md5_base64;
  std::string crc32c_base64;
};

// One snapshot of an object. Holding the descriptor keeps metadata and bytes consistent even if
// a test renames a new version over the path meanwhile.
class OpenObject {
 public:
  OpenObject(int fd, std::string path, uint64_t size, int64_t mtime_ns, dev_t dev, ino_t ino);
  ~OpenObject();
  OpenObject(const OpenObject&) = delete;
  OpenObject& operator=(const OpenObject&) = delete;

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }
  int64_t mtime_ns() const { return mtime_ns_; }
  // GCS generations are microsecond timestamps; the file's mtime plays that role here.
  int64_t generation() const { return mtime_ns_ / 1000; }
  dev_t dev() const { return dev_; }
  ino_t ino() const { return ino_; }

 private:
  int fd_;
  std::string path_;
  uint64_t size_;
  int64_t mtime_ns_;
  dev_t dev_;
  ino_t ino_;
};

class ObjectStore {
 public:
  explicit ObjectStore(std::string root);

  static bool IsValidBucketName(const std::string& bucket);
  static bool IsValidObjectName(const std::string& name);

  bool BucketExists(const std::string& bucket) const;
  // Modification time of the bucket directory, used for bucket metadata timestamps.
  int64_t BucketMtimeNs(const std::string& bucket) const;

  // nullptr when the object does not exist (or the name cannot map to a file).
  std::unique_ptr<OpenObject> Open(const std::string& bucket, const std::string& name) const;

  // All object names in the bucket, sorted bytewise as GCS orders them.
  std::vector<std::string> ListNames(const std::string& bucket) const;

  // MD5 and CRC32C of the object. Cached per file version so repeated metadata requests on large
  // objects do not re-read them; concurrent first requests share one computation.
  ObjectHashes Hashes(const OpenObject& object);

 private:
  using CacheKey = std::tuple<std::string, dev_t, ino_t, uint64_t, int64_t>;

  std::string root_;
  std::mutex mu_;
  std::map<CacheKey, std::shared_future<ObjectHashes>> hash_cache_;
};

}  // namespace devserver::fakegcs
