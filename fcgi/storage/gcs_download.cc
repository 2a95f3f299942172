#include "fcgi/storage/gcs_download.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "fcgi/base/env.h"
#include "fcgi/base/log.h"
#include "fcgi/storage/gcs_range_fetch.h"
#include "fcgi/storage/gcs_sliced_download.h"
#include "fcgi/storage/object_checksum.h"
#include "fcgi/storage/object_file.h"

namespace devserver::storage {
namespace {

// Bytes are gathered in a buffer this big, so every write(2) is at least 768 KiB.
constexpr size_t kBufferSize = 1 << 20;

// The object in one stream, appended to the destination file and fed in order to its checksum.
class StreamDownload : public RangeSink {
 public:
  StreamDownload(GcsClient* client, const ObjectInfo& object, const std::string& dest_path,
                 FetchObserver* observer, bool resume)
      : client_(client),
        resume_(resume),
        object_(object),
        dest_path_(dest_path),
        observer_(observer),
        url_(object.Url()),
        file_(client->options().env),
        checksum_(object) {}

  Status Run() {
    // Only a checksum known in advance can cover bytes that are already on disk.
    Status s = resume_ && checksum_.active() ? OpenToResume() : file_.Open(dest_path_);
    if (s.ok()) s = file_.Reserve(object_.size);
    if (!s.ok()) return s;
    RangeFetch fetch(client_, object_, object_.generation, file_.size(), object_.size, this,
                     observer_, kBufferSize);
    s = fetch.Run();
    if (!s.ok()) return s;
    if (file_.size() != object_.size) {
      return Status::Failed(url_ + ": received " + std::to_string(file_.size()) +
                            " bytes, GCS says the object has " + std::to_string(object_.size));
    }
    s = checksum_.Verify("GCS");
    if (!s.ok()) return Status::Failed(url_ + ": " + s.message());
    s = file_.SyncAndClose();
    if (!s.ok()) return s;
    if (observer_ != nullptr) observer_->OnProgress(object_.size, object_.size);
    return Status::Ok();
  }

  Status Take(uint64_t /*offset*/, const char* data, size_t n) override {
    checksum_.Update(data, n);
    Status s = file_.Append(data, n);
    if (s.ok() && observer_ != nullptr) {
      observer_->OnContiguous(dest_path_, file_.size());
      observer_->OnProgress(file_.size(), object_.size);
    }
    return s;
  }

  Status StartOver() override {
    if (observer_ != nullptr) observer_->OnRestart();
    Status s = file_.Truncate();
    if (s.ok()) s = file_.Reserve(object_.size);
    checksum_.Reset();
    return s;
  }

  void OnHead(const GoogHeaders& goog, uint64_t offset) override {
    if (offset == 0) checksum_.ExpectIfUnknown(goog.crc32c, goog.md5);
  }

 private:
  // Keeps what `dest_path_` holds of the object (an earlier stager's download of this
  // generation) and feeds it to the checksum, so that only the rest is fetched and the whole
  // object is still verified. More bytes than the object has means the file is not what it
  // seems: start over.
  Status OpenToResume() {
    Status s = file_.OpenToKeep(dest_path_);
    if (!s.ok()) return s;
    if (file_.size() > object_.size) {
      if (observer_ != nullptr) observer_->OnRestart();
      return file_.Truncate();
    }
    std::vector<char> chunk(kBufferSize);
    for (uint64_t at = 0; at < file_.size();) {
      const ssize_t n =
          pread(file_.fd(), chunk.data(), std::min<uint64_t>(chunk.size(), file_.size() - at),
                static_cast<off_t>(at));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Status::IOError("read " + dest_path_, n < 0 ? errno : EIO);
      checksum_.Update(chunk.data(), static_cast<size_t>(n));
      at += static_cast<uint64_t>(n);
    }
    if (file_.size() > 0) {
      DS_LOG(kInfo) << url_ << ": resuming a download at byte " << file_.size() << " of "
                    << object_.size;
      if (observer_ != nullptr) {
        observer_->OnContiguous(dest_path_, file_.size());
        observer_->OnProgress(file_.size(), object_.size);
      }
    }
    return Status::Ok();
  }

  GcsClient* const client_;
  const bool resume_;
  const ObjectInfo& object_;
  const std::string dest_path_;
  FetchObserver* const observer_;
  const std::string url_;
  ObjectFile file_;
  ObjectChecksum checksum_;
};

// Slices pay off only for big objects whose version and whole-object CRC32C are known before
// the first byte (slices of two versions must never meet, and their CRCs combine into the
// object's). A kept prefix of an earlier stager's stream is finished as a stream.
bool ShouldSlice(const GcsOptions& options, const ObjectInfo& object, bool resume) {
  if (resume || options.max_slices < 2 || options.slice_size == 0) return false;
  if (object.size < options.slice_threshold || object.size <= options.slice_size) return false;
  return object.generation != 0 && !object.crc32c.empty();
}

}  // namespace

Status DownloadObject(GcsClient* client, const ObjectInfo& object, const std::string& dest_path,
                      FetchObserver* observer, bool resume) {
  if (ShouldSlice(client->options(), object, resume)) {
    return DownloadObjectSliced(client, object, dest_path, observer);
  }
  return StreamDownload(client, object, dest_path, observer, resume).Run();
}

}  // namespace devserver::storage
