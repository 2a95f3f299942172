#include "fcgi/staging/payload_digest.h"

#include <Poco/Crypto/DigestEngine.h>
#include <sys/stat.h>

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

// Feeds the object `progress` follows to `engine` as its bytes arrive (a reader of its own, so
// two engines can read at once), from the first byte again whenever the download starts over;
// keeps its first bytes in *head when that is not null.
Status HashFollowing(const std::shared_ptr<FetchProgress>& progress,
                     const std::function<bool()>& cancelled, Poco::DigestEngine* engine,
                     std::string* head) {
  std::vector<char> buffer(kReadSize);
  for (;;) {
    FollowingReader reader(progress, cancelled);
    engine->reset();
    if (head != nullptr) head->clear();
    Status s;
    for (uint64_t at = 0;;) {
      if (cancelled && cancelled()) return Status::Failed("cancelled");
      size_t n = 0;
      s = reader.ReadAt(at, buffer.data(), buffer.size(), &n);
      if (!s.ok() || n == 0) break;
      if (head != nullptr && head->size() < kHeadSize) {
        head->append(buffer.data(), std::min<size_t>(n, kHeadSize - head->size()));
      }
      engine->update(buffer.data(), n);
      at += n;
    }
    if (s.ok() || !reader.Restarted()) return s;
  }
}

}  // namespace

Status DigestPayload(const std::string& path, const std::function<bool()>& cancelled,
                     PayloadDigest* digest) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return Status::IOError("open " + path, errno);
  return DigestPayload(FetchProgress::Whole(path, static_cast<uint64_t>(st.st_size)), cancelled,
                       digest);
}

Status DigestPayload(const std::shared_ptr<FetchProgress>& progress,
                     const std::function<bool()>& cancelled, PayloadDigest* digest) {
  // The two digests in two threads: a 2 GiB payload takes about as long as the slower one
  // (SHA-256) rather than as both, and the bytes are in the page cache, so reading them twice
  // costs little. Following a download, each keeps up with it and only its last bytes are
  // left to hash when it ends.
  storage::HoldOpenSsl();
  Poco::Crypto::DigestEngine sha1("SHA1");
  Poco::Crypto::DigestEngine sha256("SHA256");
  std::string head;
  Status sha1_status;
  std::thread sha1_thread(
      [&] { sha1_status = HashFollowing(progress, cancelled, &sha1, nullptr); });
  Status s = HashFollowing(progress, cancelled, &sha256, &head);
  sha1_thread.join();
  if (s.ok()) s = sha1_status;
  if (!s.ok()) return s;
  digest->size = static_cast<int64_t>(progress->size());
  digest->sha1_base64 = storage::DigestBase64(sha1.digest());
  const Poco::DigestEngine::Digest sha256_bytes = sha256.digest();
  digest->sha256_base64 = storage::DigestBase64(sha256_bytes);
  digest->sha256_hex = Poco::DigestEngine::digestToHex(sha256_bytes);
  digest->metadata_size = PayloadMetadataSize(head);
  return Status::Ok();
}

}  // namespace devserver
