// ArchiveStore::Fetch for GCS: one object generation streamed to a local file, resumed and
// verified. See gcs_store.h for what is retried.
#pragma once

#include <string>

#include "fcgi/base/status.h"
#include "fcgi/storage/archive_store.h"
#include "fcgi/storage/gcs_client.h"

namespace devserver::storage {

// See ArchiveStore::FetchObject for `resume`.
Status DownloadObject(GcsClient* client, const ObjectInfo& object, const std::string& dest_path,
                      FetchObserver* observer, bool resume);

}  // namespace devserver::storage
