// End-to-end check of downloaded bytes against the checksum the object's metadata carries:
// CRC32C when there is one (GCS has it for every object), else MD5 (which composite objects
// lack), else nothing.
#pragma once

#include <Poco/MD5Engine.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "fcgi/base/status.h"
#include "fcgi/storage/archive_store.h"

namespace devserver::storage {

// A digest as GCS (and Omaha) spell it: base64, padded.
std::string DigestBase64(const Poco::DigestEngine::Digest& digest);

class ObjectChecksum {
 public:
  explicit ObjectChecksum(const ObjectInfo& object);

  bool active() const { return kind_ != Kind::kNone; }
  // When nothing is expected yet (metadata without checksums), expect these instead, e.g. the
  // values a download's x-goog-hash header carries. Call before the first Update.
  void ExpectIfUnknown(const std::string& crc32c, const std::string& md5);
  // Feeds the next bytes of the object, in order.
  void Update(const void* data, size_t n);
  // Forgets everything fed so far.
  void Reset();
  // Failed("checksum mismatch: downloaded crc32c X, <authority> says Y") when the bytes fed
  // do not match. Call once, after the last Update.
  Status Verify(const std::string& authority);

 private:
  enum class Kind { kNone, kCrc32c, kMd5 };
  Kind kind_ = Kind::kNone;
  std::string expected_;
  uint32_t crc_ = 0;
  Poco::MD5Engine md5_;
};

}  // namespace devserver::storage
