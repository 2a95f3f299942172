#include "fcgi/cache/read_recorder.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <set>

#include "fcgi/base/hex.h"
#include "fcgi/base/log.h"

namespace devserver {
namespace {

// The syslog tag the /static/ locations of nginx/devserver-server.conf.in give their lines.
constexpr std::string_view kTag = " devserver: ";
// Distinct files held between batches; more in one batch are dropped (their builds are
// almost surely among those held already).
constexpr size_t kMaxPending = 10000;
// How long the thread sleeps in poll(2) at most, so Stop() is seen promptly.
constexpr int kPollMs = 100;
// The pause after each drain of the socket. Without it the thread would wake for every read
// nginx serves, which cost a third of nginx's rate on tiny files; with it the thread wakes at
// most 50 times a second, and reads beyond what the socket queues meanwhile are dropped by
// nginx at little cost. One read a minute per build is all eviction needs.
constexpr auto kDrainPause = std::chrono::milliseconds(20);

// Undoes nginx's log escaping (escape=default writes '"', '\' and bytes outside 0x20..0x7e
// as \xHH).
bool Unescape(std::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '\\') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 3 >= in.size() || in[i + 1] != 'x') return false;
    const int hi = HexDigitValue(in[i + 2]);
    const int lo = HexDigitValue(in[i + 3]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 3;
  }
  return true;
}

}  // namespace

bool ParseStaticRead(std::string_view datagram, const std::string& static_root, std::string* path) {
  const size_t tag = datagram.find(kTag);
  if (tag == std::string_view::npos) return false;
  std::string_view message = datagram.substr(tag + kTag.size());
  while (!message.empty() && (message.back() == '\n' || message.back() == '\r')) {
    message.remove_suffix(1);
  }
  const size_t space = message.find(' ');
  if (space == std::string_view::npos) return false;
  const std::string_view status = message.substr(0, space);
  if (status != "200" && status != "206" && status != "304") return false;
  std::string file;
  if (!Unescape(message.substr(space + 1), &file)) return false;
  const std::string prefix = static_root + "/";
  if (file.size() <= prefix.size() || file.compare(0, prefix.size(), prefix) != 0) return false;
  *path = file.substr(prefix.size());
  return true;
}

ReadRecorder::ReadRecorder(int fd, std::string static_root, MarkUsed mark,
                           std::chrono::milliseconds batch)
    : fd_(fd),
      static_root_(std::move(static_root)),
      mark_(std::move(mark)),
      batch_(batch),
      thread_(&ReadRecorder::Loop, this) {}

ReadRecorder::~ReadRecorder() { Stop(); }

void ReadRecorder::Stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void ReadRecorder::Loop() {
  std::set<std::string> pending;
  auto next_batch = std::chrono::steady_clock::now() + batch_;
  auto flush = [&] {
    if (pending.empty()) return;
    Status s = mark_(std::vector<std::string>(pending.begin(), pending.end()));
    if (!s.ok()) DS_LOG(kWarning) << "recording reads under /static/: " << s.message();
    pending.clear();
  };
  char datagram[4096];
  std::string path;
  while (!stopping_) {
    pollfd p{fd_, POLLIN, 0};
    const int ready = poll(&p, 1, kPollMs);
    if (ready < 0 && errno != EINTR) {
      DS_LOG(kError) << "poll on the reads socket failed; reads are no longer counted";
      break;
    }
    // Other workers' recorders share the socket: each datagram goes to one of them.
    for (int i = 0; ready > 0 && i < 1024; ++i) {
      const ssize_t n = recv(fd_, datagram, sizeof datagram, MSG_DONTWAIT);
      if (n <= 0) break;
      if (pending.size() < kMaxPending &&
          ParseStaticRead(std::string_view(datagram, static_cast<size_t>(n)), static_root_,
                          &path)) {
        pending.insert(path);
      }
    }
    if (std::chrono::steady_clock::now() >= next_batch) {
      flush();
      next_batch = std::chrono::steady_clock::now() + batch_;
    }
    if (ready > 0) std::this_thread::sleep_for(kDrainPause);
  }
  flush();
}

}  // namespace devserver
