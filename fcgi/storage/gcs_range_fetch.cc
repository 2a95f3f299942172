#include "fcgi/storage/gcs_range_fetch.h"

#include <algorithm>
#include <charconv>
#include <memory>
#include <utility>

#include "fcgi/base/env.h"
#include "fcgi/base/log.h"
#include "fcgi/base/slot_lock.h"
#include "fcgi/storage/gcs_json.h"

namespace devserver::storage {
namespace {

// Longest wait inside one socket read, so cancellation is noticed while a body is silent.
constexpr int kReadSliceMs = 100;
// An attempt that moved the fetch this far forward does not use up the attempt budget: a long
// transfer over a link that breaks now and then keeps going while it makes progress.
constexpr uint64_t kProgressThatRestoresBudget = 8 << 20;

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

}  // namespace

RangeFetch::RangeFetch(GcsClient* client, const ObjectInfo& object, int64_t generation,
                       uint64_t begin, uint64_t end, RangeSink* sink, FetchObserver* cancel,
                       size_t buffer_size)
    : client_(client),
      object_(object),
      generation_(generation),
      begin_(begin),
      end_(end),
      sink_(sink),
      cancel_(cancel),
      url_(object.Url()),
      what_(begin == 0 && end == object.size
                ? url_
                : url_ + " (bytes " + std::to_string(begin) + "-" + std::to_string(end - 1) + ")"),
      buf_(buffer_size),
      next_(begin) {}

bool RangeFetch::Cancelled() const { return cancel_ != nullptr && cancel_->Cancelled(); }

std::string RangeFetch::Failure(const std::string& reason) const { return what_ + ": " + reason; }

Status RangeFetch::Run() {
  int failures = 0;
  while (next_ < end_ || object_.size == 0) {
    if (Cancelled()) return Status::Failed(Failure("cancelled"));
    const uint64_t before = next_;
    Status final_status;
    const Outcome outcome = Attempt(&final_status);
    if (outcome == Outcome::kDone) break;
    if (outcome == Outcome::kFinal) return final_status;
    if (outcome == Outcome::kRetryNow) continue;
    if (next_ - before >= kProgressThatRestoresBudget) failures = 0;
    ++failures;
    if (failures >= client_->retry().max_attempts()) {
      return Status::Failed(
          Failure("giving up after " + std::to_string(failures) + " attempts: " + reason_));
    }
    if (next_ == 0) {
      DS_LOG(kWarning) << what_ << ": " << reason_ << "; trying again";
    } else {
      DS_LOG(kWarning) << what_ << ": " << reason_ << "; resuming at byte " << next_;
    }
    if (!SleepUnlessCancelled(client_->retry().BackoffMs(failures), cancel_)) {
      return Status::Failed(Failure("cancelled"));
    }
  }
  if (next_ != end_) {
    return Status::Failed(Failure("received " + std::to_string(next_ - begin_) +
                                  " bytes, GCS says the range has " +
                                  std::to_string(end_ - begin_)));
  }
  return Status::Ok();
}

RangeFetch::Outcome RangeFetch::Attempt(Status* final_status) {
  auto final = [final_status](Status s) {
    *final_status = std::move(s);
    return Outcome::kFinal;
  };
  HttpRequest request;
  request.target = client_->ObjectTarget(object_.bucket, object_.name) + "?alt=media";
  if (generation_ != 0) request.target += "&generation=" + std::to_string(generation_);
  // Objects stored gzip-encoded then arrive as stored, which is what the checksums cover.
  request.headers.emplace_back("Accept-Encoding", "gzip");
  if (next_ > 0 || (end_ < object_.size)) {
    request.headers.emplace_back("Range",
                                 "bytes=" + std::to_string(next_) + "-" + std::to_string(end_ - 1));
  }
  std::string token;
  Status s = client_->Authorize(&request, &token);
  if (!s.ok()) return final(Status::Failed(Failure(s.message())));

  // Held until this attempt's response is done with (the host-wide connection cap).
  SlotLock connection_slot;
  const GcsOptions& options = client_->options();
  if (options.max_connections > 0) {
    s = connection_slot.LockAny(options.connections_lock_file,
                                static_cast<uint64_t>(options.max_connections),
                                [this] { return Cancelled(); });
    if (s.code() == Status::Code::kUnavailable) return final(Status::Failed(Failure("cancelled")));
    if (!s.ok()) return final(s);
  }
  std::unique_ptr<HttpConnection> connection = client_->pool().Acquire();
  const TransportError err = connection->Start(request);
  if (!err.ok()) {
    reason_ = err.message;
    return err.transient() ? Outcome::kRetry : final(Status::Failed(Failure(err.message)));
  }
  const int status = connection->response().getStatus();
  if (status == 200 || status == 206) {
    s = Accept(connection->response(), status);
    if (!s.ok()) {
      connection->Close();
      return final(s);
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
  if (status == 404 && generation_ != 0) return final(AfterNotFound(body));
  if (RetryPolicy::IsRetryableHttpStatus(status)) {
    const std::string message = ErrorBodyMessage(body);
    reason_ = "HTTP " + std::to_string(status) + (message.empty() ? "" : ": " + message);
    return Outcome::kRetry;
  }
  return final(HttpFailure(what_, status, body));
}

// Checks a 200/206 head against what we asked for, before any body byte is kept.
Status RangeFetch::Accept(const Poco::Net::HTTPResponse& response, int status) {
  const GoogHeaders goog = ReadGoogHeaders(response);
  if (generation_ == 0) {
    generation_ = goog.generation;  // later attempts resume this same version
  } else if (goog.generation != 0 && goog.generation != generation_) {
    return Status::Failed(Failure("object replaced during download (generation " +
                                  std::to_string(generation_) + ", GCS sent " +
                                  std::to_string(goog.generation) + ")"));
  }
  if (status == 200 && (next_ > 0 || end_ < object_.size)) {
    if (!WholeObject()) {
      return Status::Failed(Failure("GCS ignored the Range request and sent the whole object"));
    }
    DS_LOG(kWarning) << url_ << ": resume at byte " << next_ << " answered in full";
    Status s = sink_->StartOver();
    if (!s.ok()) return s;
    next_ = 0;
  }
  sink_->OnHead(goog, next_);
  if (status == 206) {
    uint64_t first = 0;
    uint64_t last = 0;
    uint64_t total = 0;
    const std::string range = response.get("Content-Range", "");
    if (!ParseContentRange(range, &first, &last, &total) || first != next_ ||
        total != object_.size || last + 1 != end_) {
      return Status::Failed(
          Failure("asked for bytes " + std::to_string(next_) + "-" + std::to_string(end_ - 1) +
                  " of " + std::to_string(object_.size) + ", got Content-Range '" + range + "'"));
    }
  }
  if (response.hasContentLength() &&
      next_ + static_cast<uint64_t>(response.getContentLength64()) != end_) {
    return Status::Failed(Failure("GCS sends " + std::to_string(response.getContentLength64()) +
                                  " bytes from byte " + std::to_string(next_) + " of " +
                                  (WholeObject() ? "an object of " : "a range ending at ") +
                                  std::to_string(WholeObject() ? object_.size : end_) + " bytes"));
  }
  return Status::Ok();
}

RangeFetch::Outcome RangeFetch::ReadBody(HttpConnection* connection, Status* final_status) {
  auto final = [final_status](Status s) {
    *final_status = std::move(s);
    return Outcome::kFinal;
  };
  Env* const env = client_->options().env != nullptr ? client_->options().env : Env::Default();
  const int stall_ms = client_->options().stall_timeout_ms;
  const int wait_ms = std::min(kReadSliceMs, stall_ms);
  // Bytes go to the sink when less than a quarter of the buffer is free, so each Take is at
  // least three quarters of it and each recv may return at least a quarter.
  const size_t min_read = buf_.size() / 4;
  int64_t last_data_us = env->MonotonicMicros();
  for (;;) {
    if (Cancelled()) {
      connection->Close();
      const Status s = Flush();
      return final(s.ok() ? Status::Failed(Failure("cancelled")) : s);
    }
    size_t got = 0;
    const BodyRead r =
        connection->ReadBody(buf_.data() + fill_, buf_.size() - fill_, wait_ms, &got);
    if (r == BodyRead::kData) {
      fill_ += got;
      last_data_us = env->MonotonicMicros();
      if (buf_.size() - fill_ < min_read) {
        const Status s = Flush();
        if (!s.ok()) {
          connection->Close();
          return final(s);
        }
      }
      continue;
    }
    // Whatever happened next, the bytes received so far belong to the sink.
    const Status s = Flush();
    if (!s.ok()) {
      connection->Close();
      return final(s);
    }
    switch (r) {
      case BodyRead::kEnd:
        return Outcome::kDone;
      case BodyRead::kIdle:
        if (env->MonotonicMicros() - last_data_us < int64_t{stall_ms} * 1000) continue;
        connection->Close();
        return AfterStall(stall_ms, final_status);
      case BodyRead::kStalled:
        return AfterStall(stall_ms, final_status);
      case BodyRead::kBroken:
        reason_ = "connection lost after " + std::to_string(next_) + " of " +
                  std::to_string(object_.size) + " bytes: " + connection->error().message;
        if (connection->error().transient()) return Outcome::kRetry;
        return final(Status::Failed(Failure(reason_)));
      case BodyRead::kData:
        break;
    }
  }
}

RangeFetch::Outcome RangeFetch::AfterStall(int stall_ms, Status* final_status) {
  reason_ = "stalled after " + std::to_string(next_) + " of " + std::to_string(object_.size) +
            " bytes (no data for " + Seconds(stall_ms) + ")";
  if (retry_stalls_) return Outcome::kRetry;
  *final_status = Status::Failed(Failure(reason_));
  return Outcome::kFinal;
}

Status RangeFetch::Flush() {
  if (fill_ == 0) return Status::Ok();
  Status s = sink_->Take(next_, buf_.data(), fill_);
  next_ += fill_;
  fill_ = 0;
  return s;
}

// The pinned generation is gone: was the object deleted, or replaced by a newer one?
Status RangeFetch::AfterNotFound(const std::string& body) {
  const bool started = next_ > 0;
  HttpRequest request;
  request.target = client_->ObjectTarget(object_.bucket, object_.name) +
                   "?fields=" + PercentEncode(kObjectFields);
  GcsClient::Reply reply;
  const Status s = client_->Get(url_, request, kMaxErrorBody, cancel_, &reply);
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

}  // namespace devserver::storage
