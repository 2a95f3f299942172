// ReadRecorder: counts reads under /static/ as use of their builds, so eviction (LRU on
// builds.last_used_at) never takes a build that devices are still reading.
//
// nginx serves /static/ itself and never calls the pool; its access_log for those locations
// sends one syslog datagram per request to the pool's reads socket (nginx/ and
// [cache] reads_socket). Each worker runs one recorder thread on the shared socket: it
// collects the files read and hands them to the state in batches, so a burst of reads costs
// one short transaction, and usually none (a build's use is recorded once a minute).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "fcgi/base/status.h"

namespace devserver {

// The path, relative to `static_root`, of a file nginx served from one datagram of the
// `devserver_reads` log format ("<pri>date devserver: <status> <request_filename>"), with
// nginx's \xHH escapes undone. False for anything else: a status other than 200, 206 or 304
// (nothing was read), a file outside the static root, another format.
bool ParseStaticRead(std::string_view datagram, const std::string& static_root, std::string* path);

class ReadRecorder {
 public:
  using MarkUsed = std::function<Status(const std::vector<std::string>& paths)>;

  // Starts the thread on `fd` (a non-blocking datagram socket this object does not own);
  // every `batch` it hands the distinct paths read so far to `mark`.
  ReadRecorder(int fd, std::string static_root, MarkUsed mark, std::chrono::milliseconds batch);
  ~ReadRecorder();
  ReadRecorder(const ReadRecorder&) = delete;
  ReadRecorder& operator=(const ReadRecorder&) = delete;

  // Records what was collected and ends the thread.
  void Stop();

 private:
  void Loop();

  int fd_;
  std::string static_root_;
  MarkUsed mark_;
  std::chrono::milliseconds batch_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace devserver
