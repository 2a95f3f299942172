// ArchiveStore: where build artifacts come from. The one seam to the outside storage world:
// Google Cloud Storage in production, a local directory for demos and first runs, and (in
// tests) the fake GCS server behind the GCS implementation.
//
// Every call is blocking and thread-safe; callers run it on stager threads. Failures come
// back as Status values whose message is one readable line naming the object, e.g.
//   "gs://bucket/a/b/chromeos_R1_full_dev.bin: stalled after 1048576 of 4194304 bytes (no data
//    for 30 s)".
// Codes: NotFound for a missing object or bucket (never retried), Failed for an upstream or
// verification failure (after the store's own retries), IOError for the local disk (ENOSPC),
// InvalidArgument for a name the store cannot address (the local store refuses "..", "." and
// empty path components, so nothing outside its root is reachable).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fcgi/base/env.h"
#include "fcgi/base/status.h"

namespace devserver::storage {

struct ObjectInfo {
  std::string bucket;
  std::string name;  // object name inside the bucket: "board-release/R1-1.0.0/update.bin"
  uint64_t size = 0;
  // GCS generation; the local store uses the mtime in nanoseconds. 0 = unknown: Fetch takes
  // the current version (GCS then resumes only against the generation it first served).
  int64_t generation = 0;
  std::string crc32c;  // base64 of the big-endian CRC32C, as GCS reports it; may be empty
  std::string md5;     // base64 MD5, as GCS reports it; may be empty (composite objects)

  std::string Url() const { return "gs://" + bucket + "/" + name; }
};

// Told about a download's progress; asked whether to give up.
class FetchObserver {
 public:
  virtual ~FetchObserver() = default;
  // Bytes written so far of `total`; called at least every few MiB and at the end.
  virtual void OnProgress(uint64_t done, uint64_t total) = 0;
  // Polled between chunks; true stops the fetch with a Failed("... cancelled") status.
  virtual bool Cancelled() { return false; }
  // Bytes [0, contiguous) of the object are written to `path`, the download's working file
  // (which may be renamed to the destination once verified), so readers can follow the
  // download. Not yet verified: see OnRestart. A store may never call it.
  virtual void OnContiguous(const std::string& path, uint64_t contiguous) {
    (void)path;
    (void)contiguous;
  }
  // What OnContiguous reported is void: the download starts again from the first byte.
  virtual void OnRestart() {}
};

class ArchiveStore {
 public:
  virtual ~ArchiveStore() = default;

  // Every object of `bucket` whose name starts with `prefix`, in name order (all pages).
  virtual Status List(const std::string& bucket, const std::string& prefix,
                      std::vector<ObjectInfo>* objects) = 0;

  // Metadata of one object; NotFound when it does not exist.
  virtual Status Stat(const std::string& bucket, const std::string& name, ObjectInfo* info) = 0;

  // Reads a small object (a manifest) whole; Failed when it is larger than `max_bytes`.
  virtual Status ReadSmall(const std::string& bucket, const std::string& name, size_t max_bytes,
                           std::string* contents) = 0;

  // Downloads the generation `object` describes into `dest_path` (created or truncated),
  // then checks its size and checksum (CRC32C, else MD5) against `object` and fsyncs it.
  // Transient upstream errors are retried with back-off, resuming with a Range request
  // against the same generation. On failure `dest_path` may hold partial bytes: the
  // caller owns it and removes it.
  Status Fetch(const ObjectInfo& object, const std::string& dest_path, FetchObserver* observer) {
    return FetchObject(object, dest_path, observer, false);
  }

  // Fetch, except that with `resume` the bytes already in `dest_path` (a download of this
  // generation that an earlier stager left) are kept: they are read once into the object's
  // checksum and only the rest is fetched, so the whole object is still verified. A store that
  // cannot resume, or an object whose metadata carries no checksum, starts from the first byte.
  virtual Status FetchObject(const ObjectInfo& object, const std::string& dest_path,
                             FetchObserver* observer, bool resume) = 0;
};

// gs://<bucket>/<path> read from <root>/<bucket>/<path>. Metadata has no checksums; the
// size is verified. A local copy is cheap, so it never resumes. Fetch's destination file is made
// through `env` (null: Env::Default()); the sources are read directly. On Env::Default() an object
// without a checksum is copied with copy_file_range(2); any other Env gets the buffered copy, so
// each byte goes through Env::Write and a fault-injecting Env can fail it.
std::unique_ptr<ArchiveStore> MakeLocalDirStore(const std::string& root, Env* env = nullptr);

}  // namespace devserver::storage
