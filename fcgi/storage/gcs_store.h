// ArchiveStore on Google Cloud Storage's JSON API (or an emulator of it, such as fakegcs).
//
// Downloads pin the generation they were asked for, resume after a cut connection with a
// Range request against that same generation, and are verified end to end (CRC32C, else MD5,
// and the size). What is retried: HTTP 408/429/5xx, connection failures and timeouts before
// the body, and bodies cut short, with jittered exponential back-off for at most
// `max_attempts` tries per request. What is not: 404 (NotFound), 401/403 (Failed "permission
// denied"), checksum mismatches, and a body that stalls for `stall_timeout_ms`.
//
// The process should ignore SIGPIPE (the FastCGI worker does): OpenSSL writes to TLS sockets
// without MSG_NOSIGNAL, so a server hanging up mid-request could otherwise kill it.
#pragma once

#include <memory>
#include <string>

#include "fcgi/base/env.h"
#include "fcgi/base/status.h"
#include "fcgi/storage/archive_store.h"

namespace devserver::storage {

struct GcsOptions {
  // "" = resolve: STORAGE_EMULATOR_HOST (host:port or URL), then
  // CLOUD_STORAGE_EMULATOR_ENDPOINT, then https://storage.googleapis.com.
  std::string endpoint;
  // Emulator endpoints (from the environment variables) never get credentials, whatever this
  // says.
  enum class Auth { kNone, kMetadataServer, kServiceAccountKey } auth = Auth::kNone;
  std::string key_file;  // service-account JSON key for kServiceAccountKey
  std::string metadata_host = "metadata.google.internal";  // host[:port]; overridable for tests
  int connect_timeout_ms = 10000;
  int stall_timeout_ms = 30000;  // no bytes for this long: the fetch fails as stalled
  int max_attempts = 5;          // per request, including the first
  int backoff_initial_ms = 200;  // jittered exponential back-off between attempts
  int backoff_max_ms = 10000;
  int list_page_size = 1000;  // objects per objects.list page (GCS's maximum)
  // Objects of at least slice_threshold bytes (0: none) whose generation and CRC32C are known
  // download as byte ranges of slice_size over up to max_slices connections at once.
  uint64_t slice_threshold = 0;
  uint64_t slice_size = uint64_t{32} << 20;
  int max_slices = 8;
  // Host-wide cap on media downloads in flight (every slice and stream counts), shared by all
  // processes that use the same lock file: each one holds a byte lock of it while its request
  // runs. 0: no cap.
  int max_connections = 0;
  std::string connections_lock_file;
  // The downloads' destination files are made through it (and its clock times stalls); null:
  // Env::Default(). Tests pass a FaultInjectionEnv to fail the local disk.
  Env* env = nullptr;
};

// Picks the endpoint URL as GcsOptions::endpoint describes; `is_emulator` is true when it came
// from one of the emulator variables. Reads the environment, so call it (and the factories
// below) before starting threads.
Status ResolveGcsEndpoint(const std::string& configured, std::string* endpoint, bool* is_emulator);

// Fails on a malformed endpoint or an unreadable or invalid key file.
Status CreateGcsStore(const GcsOptions& options, std::unique_ptr<ArchiveStore>* store);

// As CreateGcsStore; on failure, a store whose every call fails with that error.
std::unique_ptr<ArchiveStore> MakeGcsStore(const GcsOptions& options);

}  // namespace devserver::storage
