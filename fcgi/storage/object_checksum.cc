#include "fcgi/storage/object_checksum.h"

#include <Poco/Base64Encoder.h>

#include <sstream>

#include "fcgi/storage/crc32c.h"

namespace devserver::storage {

std::string DigestBase64(const Poco::DigestEngine::Digest& digest) {
  std::ostringstream out;
  Poco::Base64Encoder encoder(out);
  encoder.write(reinterpret_cast<const char*>(digest.data()),
                static_cast<std::streamsize>(digest.size()));
  encoder.close();
  return out.str();
}

ObjectChecksum::ObjectChecksum(const ObjectInfo& object) {
  ExpectIfUnknown(object.crc32c, object.md5);
}

void ObjectChecksum::ExpectIfUnknown(const std::string& crc32c, const std::string& md5) {
  if (kind_ != Kind::kNone) return;
  if (!crc32c.empty()) {
    kind_ = Kind::kCrc32c;
    expected_ = crc32c;
  } else if (!md5.empty()) {
    kind_ = Kind::kMd5;
    expected_ = md5;
  }
}

void ObjectChecksum::Update(const void* data, size_t n) {
  switch (kind_) {
    case Kind::kCrc32c:
      crc_ = Crc32cExtend(crc_, data, n);
      break;
    case Kind::kMd5:
      md5_.update(data, n);
      break;
    case Kind::kNone:
      break;
  }
}

void ObjectChecksum::Reset() {
  crc_ = 0;
  md5_.reset();
}

Status ObjectChecksum::Verify(const std::string& authority) {
  std::string name;
  std::string actual;
  switch (kind_) {
    case Kind::kNone:
      return Status::Ok();
    case Kind::kCrc32c:
      name = "crc32c";
      actual = Crc32cBase64(crc_);
      break;
    case Kind::kMd5:
      name = "md5";
      actual = DigestBase64(md5_.digest());
      break;
  }
  if (actual == expected_) return Status::Ok();
  return Status::Failed("checksum mismatch: downloaded " + name + " " + actual + ", " + authority +
                        " says " + expected_);
}

}  // namespace devserver::storage
