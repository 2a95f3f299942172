// One byte range of one object generation, fetched with GCS's media API. Transient failures
// (connection lost, 5xx, 429) are retried with back-off, resuming inside the range with a Range
// request; the generation is pinned across attempts, so a replaced object fails the fetch
// rather than mixing versions. A whole-object download is the range [0, size) (or the rest of a
// prefix kept from an earlier stager); a sliced download runs one per slice, in parallel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fcgi/base/status.h"
#include "fcgi/storage/archive_store.h"
#include "fcgi/storage/gcs_client.h"

namespace devserver::storage {

// Where a RangeFetch puts what it receives.
class RangeSink {
 public:
  virtual ~RangeSink() = default;
  // The next `n` bytes of the range, starting at object offset `offset`. Always in order: each
  // call continues where the previous one ended (or where StartOver put the range).
  virtual Status Take(uint64_t offset, const char* data, size_t n) = 0;
  // GCS answered a Range request with the whole object: the sink forgets what it took and the
  // range starts again at byte 0. Only asked of a range that covers the whole object.
  virtual Status StartOver() = 0;
  // The head of a response whose body starts at object offset `offset` (checksums of the whole
  // object, the generation served).
  virtual void OnHead(const GoogHeaders& goog, uint64_t offset) {
    (void)goog;
    (void)offset;
  }
};

class RangeFetch {
 public:
  // Bytes [begin, end) of `object` (end == begin only for an empty object). `generation` 0 takes
  // the current one and pins what GCS serves first. `cancel` is polled (Cancelled) between
  // reads and during back-off; its OnProgress is not called. `buffer_size` bytes are gathered
  // before each Take.
  RangeFetch(GcsClient* client, const ObjectInfo& object, int64_t generation, uint64_t begin,
             uint64_t end, RangeSink* sink, FetchObserver* cancel, size_t buffer_size);

  // A body that stalls (no byte for stall_timeout) is then retried, resuming where it stopped,
  // rather than failing the fetch: one slice of many stalling is a bad connection, not a sign
  // that the object cannot be had.
  void RetryStalls() { retry_stalls_ = true; }

  // Until the range is whole, or a final failure (message naming the object and, for a part of
  // it, the range).
  Status Run();

  uint64_t next() const { return next_; }  // object offset of the first byte not yet taken
  int64_t generation() const { return generation_; }

 private:
  enum class Outcome {
    kDone,      // the body arrived whole
    kRetry,     // transient failure (reason_ says which): back off, then resume
    kRetryNow,  // try again at once (a rejected token was dropped)
    kFinal,     // stop with *final_status
  };

  bool Cancelled() const;
  bool WholeObject() const { return begin_ == 0 && end_ == object_.size; }
  Outcome Attempt(Status* final_status);
  Status Accept(const Poco::Net::HTTPResponse& response, int status);
  Outcome ReadBody(HttpConnection* connection, Status* final_status);
  Status Flush();
  Outcome AfterStall(int stall_ms, Status* final_status);
  Status AfterNotFound(const std::string& body);
  std::string Failure(const std::string& reason) const;

  GcsClient* const client_;
  const ObjectInfo& object_;
  int64_t generation_;
  const uint64_t begin_;
  const uint64_t end_;
  RangeSink* const sink_;
  FetchObserver* const cancel_;
  const std::string url_;
  const std::string what_;  // url_, and the range when it is a part of the object
  std::vector<char> buf_;
  size_t fill_ = 0;     // bytes in buf_ not yet taken by the sink
  uint64_t next_ = 0;   // object offset of buf_[0]
  std::string reason_;  // why the last attempt failed, for the log and the final message
  bool reauthorized_ = false;
  bool retry_stalls_ = false;
};

}  // namespace devserver::storage
