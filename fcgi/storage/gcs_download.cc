#include "fcgi/storage/gcs_download.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <vector>

#include "fcgi/base/env.h"
#include "fcgi/base/log.h"
#include "fcgi/storage/gcs_json.h"
#include "fcgi/storage/object_checksum.h"
#include "fcgi/storage/object_file.h"

namespace devserver::storage {
namespace {

// Bytes are gathered in this buffer and written when less than kMinRead of it is free, so
// every write(2) is at least 768 KiB and every recv(2) may return at least 256 KiB.
constexpr size_t kBufferSize = 1 << 20;
constexpr size_t kMinRead = 256 << 10;
// Longest wait inside one socket read, so cancellation is noticed while a body is silent.
constexpr int kReadSliceMs = 100;
// An attempt that moved the download this far forward does not use up the attempt budget: a
// long transfer over a link that breaks now and then keeps going while it makes progress.
constexpr uint64_t kProgressThatRestoresBudget = 8 << 20;
constexpr size_t kMaxErrorBody = size_t{64} << 10;

std::string Seconds(int ms) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, ms / 1000.0);
  return ec == std::errc() ? std::string(buf, end) + " s" : std::to_string(ms) + " ms";
}

// "bytes <first>-<last>/<total>"
bool ParseContentRange(const std::string& value, uint64_t* first, uint64_t* last, uint64_t* total) {
  const char* p = value.data();
  const char* end = p + value.size();
  if (!value.starts_with("bytes ")) return false;
  p += 6;
  auto number = [&](uint64_t* out, char stop) {
    const auto [next, ec] = std::from_chars(p, end, *out);
    if (ec != std::errc() || (stop != '\0' && (next == end || *next != stop))) return false;
    p = stop != '\0' ? next + 1 : next;
    return true;
  };
  return number(first, '-') && number(last, '/') && number(total, '\0') && p == end;
}

class Download {
 public:
  Download(GcsClient* client, const ObjectInfo& object, const std::string& dest_path,
           FetchObserver* observer, bool resume)
      : client_(client),
        resume_(resume),
        object_(object),
        dest_path_(dest_path),
        observer_(observer),
        url_(object.Url()),
        generation_(object.generation),
        env_(client->options().env != nullptr ? client->options().env : Env::Default()),
        file_(env_),
        checksum_(object) {}

  Status Run() {
    // Only a checksum known in advance can cover bytes that are already on disk.
    Status s = resume_ && checksum_.active() ? OpenToResume() : file_.Open(dest_path_);
    if (s.ok()) s = file_.Reserve(object_.size);
    if (!s.ok()) return s;
    buf_.resize(kBufferSize);

    int failures = 0;
    while (file_.size() < object_.size || object_.size == 0) {
      if (Cancelled()) return Status::Failed(url_ + ": cancelled");
      const uint64_t before = file_.size();
      Status final_status;
      const Outcome outcome = Attempt(&final_status);
      if (outcome == Outcome::kDone) break;
      if (outcome == Outcome::kFinal) return final_status;
      if (outcome == Outcome::kRetryNow) continue;
      if (file_.size() - before >= kProgressThatRestoresBudget) failures = 0;
      ++failures;
      if (failures >= client_->retry().max_attempts()) {
        return Status::Failed(url_ + ": giving up after " + std::to_string(failures) +
                              " attempts: " + reason_);
      }
      if (file_.size() == 0) {
        DS_LOG(kWarning) << url_ << ": " << reason_ << "; trying again";
      } else {
        DS_LOG(kWarning) << url_ << ": " << reason_ << "; resuming at byte " << file_.size();
      }
      if (!SleepUnlessCancelled(client_->retry().BackoffMs(failures), observer_)) {
        return Status::Failed(url_ + ": cancelled");
      }
    }

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

 private:
  enum class Outcome {
    kDone,      // the body arrived whole
    kRetry,     // transient failure (reason_ says which): back off, then resume
    kRetryNow,  // try again at once (a rejected token was dropped)
    kFinal,     // stop with *final_status
  };

  bool Cancelled() const { return observer_ != nullptr && observer_->Cancelled(); }

  // Keeps what `dest_path_` holds of the object (an earlier stager's download of this
  // generation) and feeds it to the checksum, so that only the rest is fetched and the whole
  // object is still verified. More bytes than the object has means the file is not what it
  // seems: start over.
  Status OpenToResume() {
    Status s = file_.OpenToKeep(dest_path_);
    if (!s.ok()) return s;
    if (file_.size() > object_.size) return file_.Truncate();
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
      if (observer_ != nullptr) observer_->OnProgress(file_.size(), object_.size);
    }
    return Status::Ok();
  }

  Outcome Attempt(Status* final_status) {
    HttpRequest request;
    request.target = client_->ObjectTarget(object_.bucket, object_.name) + "?alt=media";
    if (generation_ != 0) request.target += "&generation=" + std::to_string(generation_);
    // Objects stored gzip-encoded then arrive as stored, which is what the checksums cover.
    request.headers.emplace_back("Accept-Encoding", "gzip");
    const uint64_t offset = file_.size();
    if (offset > 0) request.headers.emplace_back("Range", "bytes=" + std::to_string(offset) + "-");
    std::string token;
    Status s = client_->Authorize(&request, &token);
    if (!s.ok()) return Final(Status::Failed(url_ + ": " + s.message()), final_status);

    std::unique_ptr<HttpConnection> connection = client_->pool().Acquire();
    const TransportError err = connection->Start(request);
    if (!err.ok()) {
      reason_ = err.message;
      return err.transient() ? Outcome::kRetry
                             : Final(Status::Failed(url_ + ": " + err.message), final_status);
    }
    const int status = connection->response().getStatus();
    if (status == 200 || status == 206) {
      s = Accept(connection->response(), status);
      if (!s.ok()) {
        connection->Close();
        return Final(s, final_status);
      }
      const Outcome outcome = ReadBody(connection.get(), final_status);
      if (outcome == Outcome::kDone) client_->pool().Release(std::move(connection));
      return outcome;
    }

    std::string body;
    bool too_large = false;
    if (connection->ReadAll(kMaxErrorBody, &body, &too_large).ok()) {
      client_->pool().Release(std::move(connection));
    }
    if (status == 401 && !token.empty() && !reauthorized_) {
      reauthorized_ = true;
      client_->RejectToken(token);
      return Outcome::kRetryNow;
    }
    if (status == 404 && generation_ != 0) return Final(AfterNotFound(body), final_status);
    if (RetryPolicy::IsRetryableHttpStatus(status)) {
      const std::string message = ErrorBodyMessage(body);
      reason_ = "HTTP " + std::to_string(status) + (message.empty() ? "" : ": " + message);
      return Outcome::kRetry;
    }
    return Final(HttpFailure(url_, status, body), final_status);
  }

  static Outcome Final(Status s, Status* final_status) {
    *final_status = std::move(s);
    return Outcome::kFinal;
  }

  // Checks a 200/206 head against what we asked for, before any body byte is kept.
  Status Accept(const Poco::Net::HTTPResponse& response, int status) {
    const GoogHeaders goog = ReadGoogHeaders(response);
    if (generation_ == 0) {
      generation_ = goog.generation;  // later attempts resume this same version
    } else if (goog.generation != 0 && goog.generation != generation_) {
      return Status::Failed(url_ + ": object replaced during download (generation " +
                            std::to_string(generation_) + ", GCS sent " +
                            std::to_string(goog.generation) + ")");
    }
    uint64_t offset = file_.size();
    if (status == 200 && offset > 0) {
      // The server ignored our Range: take the whole body again.
      DS_LOG(kWarning) << url_ << ": resume at byte " << offset << " answered in full";
      Status s = file_.Truncate();
      if (s.ok()) s = file_.Reserve(object_.size);
      if (!s.ok()) return s;
      checksum_.Reset();
      offset = 0;
    }
    if (offset == 0) checksum_.ExpectIfUnknown(goog.crc32c, goog.md5);
    if (status == 206) {
      uint64_t first = 0;
      uint64_t last = 0;
      uint64_t total = 0;
      const std::string range = response.get("Content-Range", "");
      if (!ParseContentRange(range, &first, &last, &total) || first != offset ||
          total != object_.size || last + 1 != total) {
        return Status::Failed(url_ + ": asked for bytes " + std::to_string(offset) + "- of " +
                              std::to_string(object_.size) + ", got Content-Range '" + range + "'");
      }
    }
    if (response.hasContentLength() &&
        offset + static_cast<uint64_t>(response.getContentLength64()) != object_.size) {
      return Status::Failed(url_ + ": GCS sends " + std::to_string(response.getContentLength64()) +
                            " bytes from byte " + std::to_string(offset) + " of an object of " +
                            std::to_string(object_.size) + " bytes");
    }
    return Status::Ok();
  }

  Outcome ReadBody(HttpConnection* connection, Status* final_status) {
    Env* const env = env_;
    const int stall_ms = client_->options().stall_timeout_ms;
    const int slice_ms = std::min(kReadSliceMs, stall_ms);
    int64_t last_data_us = env->MonotonicMicros();
    for (;;) {
      if (Cancelled()) {
        connection->Close();
        const Status s = Flush();
        return Final(s.ok() ? Status::Failed(url_ + ": cancelled") : s, final_status);
      }
      size_t got = 0;
      const BodyRead r =
          connection->ReadBody(buf_.data() + fill_, buf_.size() - fill_, slice_ms, &got);
      if (r == BodyRead::kData) {
        checksum_.Update(buf_.data() + fill_, got);
        fill_ += got;
        last_data_us = env->MonotonicMicros();
        if (buf_.size() - fill_ < kMinRead) {
          const Status s = Flush();
          if (!s.ok()) {
            connection->Close();
            return Final(s, final_status);
          }
        }
        continue;
      }
      // Whatever happened next, the bytes received so far belong on disk.
      const Status s = Flush();
      if (!s.ok()) {
        connection->Close();
        return Final(s, final_status);
      }
      switch (r) {
        case BodyRead::kEnd:
          return Outcome::kDone;
        case BodyRead::kIdle:
          if (env->MonotonicMicros() - last_data_us < int64_t{stall_ms} * 1000) continue;
          connection->Close();
          return Final(Stalled(stall_ms), final_status);
        case BodyRead::kStalled:
          return Final(Stalled(stall_ms), final_status);
        case BodyRead::kBroken:
          reason_ = "connection lost after " + std::to_string(file_.size()) + " of " +
                    std::to_string(object_.size) + " bytes: " + connection->error().message;
          if (connection->error().transient()) return Outcome::kRetry;
          return Final(Status::Failed(url_ + ": " + reason_), final_status);
        case BodyRead::kData:
          break;
      }
    }
  }

  Status Stalled(int stall_ms) const {
    return Status::Failed(url_ + ": stalled after " + std::to_string(file_.size()) + " of " +
                          std::to_string(object_.size) + " bytes (no data for " +
                          Seconds(stall_ms) + ")");
  }

  Status Flush() {
    if (fill_ == 0) return Status::Ok();
    Status s = file_.Append(buf_.data(), fill_);
    fill_ = 0;
    if (s.ok() && observer_ != nullptr) observer_->OnProgress(file_.size(), object_.size);
    return s;
  }

  // The pinned generation is gone: was the object deleted, or replaced by a newer one?
  Status AfterNotFound(const std::string& body) {
    const bool started = file_.size() > 0;
    HttpRequest request;
    request.target = client_->ObjectTarget(object_.bucket, object_.name) +
                     "?fields=" + PercentEncode(kObjectFields);
    GcsClient::Reply reply;
    const Status s = client_->Get(url_, request, kMaxErrorBody, observer_, &reply);
    if (s.code() == Status::Code::kNotFound) {
      return Status::NotFound(url_ + ": not found" + (started ? " (deleted during download)" : ""));
    }
    ObjectInfo latest;
    const int64_t now = s.ok() && ParseObjectResource(reply.body, object_.bucket, &latest).ok()
                            ? latest.generation
                            : 0;
    if (now != 0 && now != generation_) {
      return Status::Failed(url_ + ": object replaced" + (started ? " during download" : "") +
                            " (generation " + std::to_string(generation_) + " is gone, now " +
                            std::to_string(now) + ")");
    }
    return HttpFailure(url_ + " generation " + std::to_string(generation_), 404, body);
  }

  GcsClient* const client_;
  const bool resume_;
  const ObjectInfo& object_;
  const std::string dest_path_;
  FetchObserver* const observer_;
  const std::string url_;
  int64_t generation_;  // pinned: every attempt asks for this version
  Env* const env_;      // the destination file's file system, and the stall clock
  ObjectFile file_;
  ObjectChecksum checksum_;
  std::vector<char> buf_;
  size_t fill_ = 0;  // bytes in buf_ not yet written (already in checksum_)
  std::string reason_;
  bool reauthorized_ = false;
};

}  // namespace

Status DownloadObject(GcsClient* client, const ObjectInfo& object, const std::string& dest_path,
                      FetchObserver* observer, bool resume) {
  return Download(client, object, dest_path, observer, resume).Run();
}

}  // namespace devserver::storage
