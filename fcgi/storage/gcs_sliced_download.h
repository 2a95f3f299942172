// A big object fetched as byte-range slices over parallel connections, as Google's own
// `gcloud storage cp` does: one HTTP stream from GCS is usually held well below what the host's
// link can carry.
//
// All slices ask for the one pinned generation and land with pwrite in one pre-allocated file,
// "<dest>.part", renamed to <dest> only once it is whole, verified and fsynced (so nothing ever
// mistakes a file with holes for a downloaded prefix). Each slice is a RangeFetch: a stall, cut
// or 5xx in it retries that slice alone, resuming inside it. The CRC32C of each slice is taken
// as its bytes arrive and the slices' CRCs are combined into the object's, which must equal the
// one in the object's metadata: the file is never read back. The first slice that fails for good
// (generation gone, retries spent, disk error) stops the others and is the download's cause.
// Progress and cancellation are handled on the calling thread only, so the caller's observer
// needs no locking.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fcgi/base/status.h"
#include "fcgi/storage/archive_store.h"
#include "fcgi/storage/gcs_client.h"

namespace devserver::storage {

struct Slice {
  uint64_t begin = 0;
  uint64_t end = 0;  // one past the last byte
};

// [0, size) cut into slices of `slice_size` bytes, the last one shorter; nothing for size 0.
std::vector<Slice> PlanSlices(uint64_t size, uint64_t slice_size);

// Downloads `object` (generation and crc32c known) into `dest_path` with up to
// client->options().max_slices slices in flight, each of options().slice_size bytes.
Status DownloadObjectSliced(GcsClient* client, const ObjectInfo& object,
                            const std::string& dest_path, FetchObserver* observer);

}  // namespace devserver::storage
