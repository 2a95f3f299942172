#include "fcgi/staging/payload_digest.h"

#include <Poco/Crypto/DigestEngine.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>
#include <vector>

#include "fcgi/storage/object_checksum.h"
#include "fcgi/storage/openssl_lifetime.h"

namespace devserver {
namespace {

constexpr std::string_view kMagic = "CrAU";
constexpr size_t kReadSize = 1 << 20;
constexpr size_t kHeadSize = 64;  // more than any payload header this code reads

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

namespace {

// Feeds the whole file at `path` to `engine` (its own descriptor, so two engines can read at
// once); reads the first bytes into *head when it is not null.
Status HashFile(const std::string& path, const std::function<bool()>& cancelled,
                Poco::DigestEngine* engine, std::string* head, int64_t* size) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::IOError("open " + path, errno);
  std::vector<char> buffer(kReadSize);
  int64_t total = 0;
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
    if (head != nullptr && head->size() < kHeadSize) {
      head->append(buffer.data(), std::min<size_t>(n, kHeadSize - head->size()));
    }
    engine->update(buffer.data(), static_cast<size_t>(n));
    total += n;
  }
  close(fd);
  *size = total;
  return s;
}

}  // namespace

Status DigestPayload(const std::string& path, const std::function<bool()>& cancelled,
                     PayloadDigest* digest) {
  // The two digests in two threads: a 2 GiB payload takes about as long as the slower one
  // (SHA-256) rather than as both, and the file is in the page cache, so reading it twice
  // costs little.
  storage::HoldOpenSsl();
  Poco::Crypto::DigestEngine sha1("SHA1");
  Poco::Crypto::DigestEngine sha256("SHA256");
  std::string head;
  int64_t sha1_size = 0;
  int64_t sha256_size = 0;
  Status sha1_status;
  std::thread sha1_thread(
      [&] { sha1_status = HashFile(path, cancelled, &sha1, nullptr, &sha1_size); });
  Status s = HashFile(path, cancelled, &sha256, &head, &sha256_size);
  sha1_thread.join();
  if (s.ok()) s = sha1_status;
  if (!s.ok()) return s;
  if (sha1_size != sha256_size) return Status::Failed(path + " changed while it was read");
  digest->size = sha256_size;
  digest->sha1_base64 = storage::DigestBase64(sha1.digest());
  const Poco::DigestEngine::Digest sha256_bytes = sha256.digest();
  digest->sha256_base64 = storage::DigestBase64(sha256_bytes);
  digest->sha256_hex = Poco::DigestEngine::digestToHex(sha256_bytes);
  digest->metadata_size = PayloadMetadataSize(head);
  return Status::Ok();
}

}  // namespace devserver
