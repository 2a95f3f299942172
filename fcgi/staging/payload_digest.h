// What an update check tells a device about a payload file, read from the file once.
//
// A Chrome OS update payload starts with "CrAU", a big-endian u64 major version and a
// big-endian u64 manifest size; version 2 adds a big-endian u32 metadata-signature size. The
// device checks the metadata size it is told against that header (20 + manifest size for
// version 1, 24 + manifest size for version 2) and the bytes against size and SHA-256; old
// clients read SHA-1 and a base64 SHA-256 instead. A file without the magic is no payload and
// has no metadata size.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "fcgi/base/status.h"
#include "fcgi/staging/fetch_progress.h"

namespace devserver {

struct PayloadDigest {
  int64_t size = 0;
  std::string sha1_base64;
  std::string sha256_base64;
  std::string sha256_hex;
  int64_t metadata_size = -1;  // -1: no payload header
};

// The metadata size the header at the start of a file declares, or -1 when `head` does not
// start with a payload header this code understands (no magic, unknown major version,
// truncated header).
int64_t PayloadMetadataSize(std::string_view head);

// Reads the file at `path` once. `cancelled` is polled between reads (a multi-GiB payload
// takes a second or two): Failed("cancelled") when it says so.
Status DigestPayload(const std::string& path, const std::function<bool()>& cancelled,
                     PayloadDigest* digest);

// The same for an object still downloading: its bytes are hashed as they arrive, again from the
// first one if the download starts over, and the digest is ready once the download is verified
// (or fails with the download's cause).
Status DigestPayload(const std::shared_ptr<FetchProgress>& progress,
                     const std::function<bool()>& cancelled, PayloadDigest* digest);

}  // namespace devserver
