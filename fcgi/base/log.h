// One line per event on stderr, with a level letter, so journald and test logs stay readable.
//
//   DS_LOG(kInfo) << "worker " << pid << " started";
//
// The line is assembled in memory and written with a single write(2), so lines from many
// threads and processes sharing stderr never interleave.
#pragma once

#include <sstream>
#include <string>

namespace devserver {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// Lines below this level are dropped. Set once at start-up.
void SetMinLogLevel(LogLevel level);
// "debug", "info", "warning" or "error" (the config's log_level); anything else is info.
LogLevel ParseLogLevel(const std::string& name);
// A short tag naming the process role ("master", "worker 2", "ctl"), shown on every line.
void SetLogTag(const std::string& tag);
bool LogEnabled(LogLevel level);

// The line DS_LOG(level) << message writes, newline included: for a writer that hands many
// lines to the log at once (the access lines of busy request threads).
std::string FormatLogLine(LogLevel level, const std::string& message);
// Writes lines made by FormatLogLine to the log in one piece.
void WriteLogText(const std::string& text);

class LogLine {
 public:
  explicit LogLine(LogLevel level) : level_(level) {}
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;
  ~LogLine();
  std::ostream& stream() { return stream_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

// Turns the streamed expression into void, so DS_LOG works as an expression statement (safe
// inside an unbraced if/else); '&' binds looser than '<<', so the whole line streams first.
struct LogVoidify {
  void operator&(std::ostream&) {}
};

}  // namespace devserver

// Not parenthesized on purpose: the caller's `<< ...` must reach the stream at the end.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define DS_LOG(level)                                    \
  !::devserver::LogEnabled(::devserver::LogLevel::level) \
      ? (void)0                                          \
      : ::devserver::LogVoidify() & ::devserver::LogLine(::devserver::LogLevel::level).stream()
// NOLINTEND(bugprone-macro-parentheses)
