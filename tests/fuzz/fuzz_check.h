// What the fuzz targets share: an invariant check that stops the run with the offending
// values, and the checks on messages that reach an HTTP body or a log line.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace devserver::fuzz {

// abort() rather than assert(): the checks must hold in every build type, and libFuzzer
// keeps the input of any crash.
[[noreturn]] inline void Fail(const char* file, int line, const char* what,
                              const std::string& detail) {
  (void)std::fprintf(stderr, "%s:%d: invariant broken: %s\n  %s\n", file, line, what,
                     detail.c_str());
  std::abort();
}

#define FUZZ_CHECK(cond, detail)                                               \
  do {                                                                         \
    if (!(cond)) ::devserver::fuzz::Fail(__FILE__, __LINE__, #cond, (detail)); \
  } while (false)

// Error reasons go into one-line HTTP bodies and log lines: no control bytes, bounded size.
inline bool IsOneLineReason(std::string_view s, size_t max_bytes = 4096) {
  if (s.empty() || s.size() > max_bytes) return false;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

inline bool HasControlByte(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

// A printable rendering of arbitrary bytes for failure reports.
inline std::string Escaped(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      (void)std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

}  // namespace devserver::fuzz
