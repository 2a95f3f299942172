#include "fcgi/staging/payload_digest.h"

#include <Poco/Crypto/DigestEngine.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "fcgi/storage/object_checksum.h"

namespace devserver {
namespace {

constexpr std::string_view kMagic = "CrAU";
constexpr size_t kReadSize = 1 << 20;

uint64_t BigEndian(std::string_view bytes, size_t at, size_t width) {
  uint64_t value = 0;
  for (size_t i = 0; i < width; ++i) {
    value = (value << 8) | static_cast<unsigned char>(bytes[at + i]);
  }
  return value;
}

}  // namespace

int64_t PayloadMetadataSize(std::string_view head) {
  // magic, major version, manifest size; version 2 also a metadata-signature size.
  constexpr size_t kV1Header = 4 + 8 + 8;
  constexpr size_t kV2Header = kV1Header + 4;
  if (head.size() < kV1Header || head.substr(0, kMagic.size()) != kMagic) return -1;
  const uint64_t major = BigEndian(head, 4, 8);
  const uint64_t manifest = BigEndian(head, 12, 8);
  const size_t header = major == 1 ? kV1Header : major == 2 ? kV2Header : 0;
  // A manifest size this large is no header of a real payload, and would overflow.
  if (header == 0 || head.size() < header || manifest > (uint64_t{1} << 40)) return -1;
  return static_cast<int64_t>(header + manifest);
}

Status DigestPayload(const std::string& path, const std::function<bool()>& cancelled,
                     PayloadDigest* digest) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::IOError("open " + path, errno);
  Poco::Crypto::DigestEngine sha1("SHA1");
  Poco::Crypto::DigestEngine sha256("SHA256");
  std::vector<char> buffer(kReadSize);
  std::string head;
  int64_t size = 0;
  Status s;
  for (;;) {
    if (cancelled && cancelled()) {
      s = Status::Failed("cancelled");
      break;
    }
    const ssize_t n = read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      s = Status::IOError("read " + path, errno);
      break;
    }
    if (n == 0) break;
    if (head.size() < 64) head.append(buffer.data(), std::min<size_t>(n, 64 - head.size()));
    sha1.update(buffer.data(), static_cast<size_t>(n));
    sha256.update(buffer.data(), static_cast<size_t>(n));
    size += n;
  }
  close(fd);
  if (!s.ok()) return s;
  digest->size = size;
  digest->sha1_base64 = storage::DigestBase64(sha1.digest());
  const Poco::DigestEngine::Digest sha256_bytes = sha256.digest();
  digest->sha256_base64 = storage::DigestBase64(sha256_bytes);
  digest->sha256_hex = Poco::DigestEngine::digestToHex(sha256_bytes);
  digest->metadata_size = PayloadMetadataSize(head);
  return Status::Ok();
}

}  // namespace devserver
