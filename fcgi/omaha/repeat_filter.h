// Which update checks go to a client's log. A device polling for updates repeats the same
// check (same version, track and board) for hours, and a load test far more often: such
// repeats are logged once per client and window, so they never push the client's events out
// of its bounded log and never cost a write each. Events are always logged.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace devserver::omaha {

class RepeatFilter {
 public:
  // Remembers at most `max_clients` clients (then forgets them all, so a repeat may be logged
  // again); a check repeated after `window_us` is logged again.
  RepeatFilter(int64_t window_us, size_t max_clients)
      : window_us_(window_us), max_clients_(max_clients) {}

  // Whether the check of `ip`, described by `key`, made at `at_us`, is to be logged. Safe to
  // call from several threads.
  bool Admit(const std::string& ip, const std::string& key, int64_t at_us);

 private:
  struct Last {
    std::string key;
    int64_t at_us = 0;
  };
  const int64_t window_us_;
  const size_t max_clients_;
  std::mutex mu_;
  std::unordered_map<std::string, Last> last_;  // by ip: the last check logged
};

}  // namespace devserver::omaha
