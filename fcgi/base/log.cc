#include "fcgi/base/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <mutex>

#include "fcgi/base/process_id.h"

namespace devserver {
namespace {

std::atomic<int> g_min_level{static_cast<int>(LogLevel::kInfo)};
std::mutex g_tag_mutex;
std::string g_tag = "devserver";

char LevelLetter(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return 'D';
    case LogLevel::kInfo:
      return 'I';
    case LogLevel::kWarning:
      return 'W';
    case LogLevel::kError:
      return 'E';
  }
  return '?';
}

std::string Timestamp() {
  auto now = std::chrono::system_clock::now();
  std::time_t secs = std::chrono::system_clock::to_time_t(now);
  auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  (void)std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[40];
  (void)std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(millis));
  return out;
}

}  // namespace

void SetMinLogLevel(LogLevel level) { g_min_level = static_cast<int>(level); }

LogLevel ParseLogLevel(const std::string& name) {
  if (name == "debug") return LogLevel::kDebug;
  if (name == "warning") return LogLevel::kWarning;
  if (name == "error") return LogLevel::kError;
  return LogLevel::kInfo;
}

void SetLogTag(const std::string& tag) {
  std::lock_guard<std::mutex> lock(g_tag_mutex);
  g_tag = tag;
}

bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_min_level.load(); }

std::string FormatLogLine(LogLevel level, const std::string& message) {
  std::string tag;
  {
    std::lock_guard<std::mutex> lock(g_tag_mutex);
    tag = g_tag;
  }
  std::string line = Timestamp();
  line.reserve(line.size() + tag.size() + message.size() + 16);
  line += ' ';
  line += LevelLetter(level);
  line += ' ';
  line += tag;
  line += '[';
  line += std::to_string(CurrentPid());
  line += "]: ";
  const size_t body = line.size();
  line += message;
  // One event, one line: a message must not break the line-oriented log.
  for (size_t i = body; i < line.size(); ++i) {
    if (line[i] == '\n' || line[i] == '\r') line[i] = ' ';
  }
  line += '\n';
  return line;
}

void WriteLogText(const std::string& text) {
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n <= 0) break;  // nowhere else to report a failing stderr
    p += n;
    left -= static_cast<size_t>(n);
  }
}

LogLine::~LogLine() { WriteLogText(FormatLogLine(level_, stream_.str())); }

}  // namespace devserver
