#include "fcgi/base/fault_env.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <set>
#include <thread>
#include <utility>

#include "fcgi/base/log.h"

namespace devserver {
namespace {

// How often the rules file is looked at for changes.

constexpr const char* kOpNames[kFaultOpCount] = {
    "any",   "open",   "write",   "sync",     "syncfs",   "close",  "rename",
    "mkdir", "remove", "symlink", "allocate", "truncate", "statfs",
};

struct ErrnoEntry {
  const char* name;
  int value;
};

// The errors a disk, a file system or a permission check can produce.
constexpr ErrnoEntry kErrnos[] = {
    {"EPERM", EPERM},
    {"ENOENT", ENOENT},
    {"EINTR", EINTR},
    {"EIO", EIO},
    {"ENXIO", ENXIO},
    {"EBADF", EBADF},
    {"EAGAIN", EAGAIN},
    {"ENOMEM", ENOMEM},
    {"EACCES", EACCES},
    {"EBUSY", EBUSY},
    {"EEXIST", EEXIST},
    {"EXDEV", EXDEV},
    {"ENODEV", ENODEV},
    {"ENOTDIR", ENOTDIR},
    {"EISDIR", EISDIR},
    {"EINVAL", EINVAL},
    {"ENFILE", ENFILE},
    {"EMFILE", EMFILE},
    {"ETXTBSY", ETXTBSY},
    {"EFBIG", EFBIG},
    {"ENOSPC", ENOSPC},
    {"ESPIPE", ESPIPE},
    {"EROFS", EROFS},
    {"EMLINK", EMLINK},
    {"ENAMETOOLONG", ENAMETOOLONG},
    {"ENOTEMPTY", ENOTEMPTY},
    {"ELOOP", ELOOP},
    {"EDQUOT", EDQUOT},
    {"ESTALE", ESTALE},
    {"EOPNOTSUPP", EOPNOTSUPP},
    {"ENOSYS", ENOSYS},
    {"ETIMEDOUT", ETIMEDOUT},
    {"ECANCELED", ECANCELED},
    {"EUCLEAN", EUCLEAN},
};

int64_t UnixMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t Nanos(const struct timespec& t) {
  return static_cast<int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

bool ParseCount(std::string_view text, int64_t* value) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return ec == std::errc() && end == text.data() + text.size() && *value >= 0;
}

bool Matches(const FaultRule& rule, FaultOp op, const std::string& path, const std::string& to) {
  if (rule.count == 0) return false;
  if (rule.op != FaultOp::kAny && rule.op != op) return false;
  if (rule.path == "*") return true;
  return path.find(rule.path) != std::string::npos ||
         (!to.empty() && to.find(rule.path) != std::string::npos);
}

// The first live rule matching the call, or -1.
int FirstMatch(const std::vector<FaultRule>& rules, FaultOp op, const std::string& path,
               const std::string& to) {
  for (size_t i = 0; i < rules.size(); ++i) {
    if (Matches(rules[i], op, path, to)) return static_cast<int>(i);
  }
  return -1;
}

// Lets the call through (skip) or fires the rule, consuming one of either.
bool Consume(FaultRule* rule) {
  if (rule->skip > 0) {
    --rule->skip;
    return false;
  }
  if (rule->count > 0) --rule->count;
  return true;
}

bool ReadAll(int fd, std::string* text) {
  text->clear();
  char buf[4096];
  off_t at = 0;
  for (;;) {
    const ssize_t n = pread(fd, buf, sizeof buf, at);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return true;
    text->append(buf, static_cast<size_t>(n));
    at += n;
  }
}

bool WriteAllAt(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = pwrite(fd, text.data() + done, text.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return ftruncate(fd, static_cast<off_t>(text.size())) == 0;
}

bool LockFile(int fd, int how) {
  int rc;
  do {
    rc = flock(fd, how);
  } while (rc != 0 && errno == EINTR);
  return rc == 0;
}

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// The comment that ends `line` (from a token starting with '#'), with the blank before it;
// "" when there is none.
std::string TrailingComment(const std::string& line) {
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) {
      return "  " + line.substr(i);
    }
  }
  return "";
}

}  // namespace

const char* FaultOpName(FaultOp op) {
  const auto i = static_cast<size_t>(op);
  return i < kFaultOpCount ? kOpNames[i] : "?";
}

bool ParseFaultOp(std::string_view name, FaultOp* op) {
  for (size_t i = 0; i < kFaultOpCount; ++i) {
    if (name == kOpNames[i]) {
      *op = static_cast<FaultOp>(i);
      return true;
    }
  }
  return false;
}

std::string ErrnoName(int err) {
  for (const ErrnoEntry& e : kErrnos) {
    if (e.value == err) return e.name;
  }
  return std::to_string(err);
}

bool ParseErrno(std::string_view name, int* err) {
  for (const ErrnoEntry& e : kErrnos) {
    if (name == e.name) {
      *err = e.value;
      return true;
    }
  }
  int value = 0;
  const auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), value);
  if (ec != std::errc() || end != name.data() + name.size() || value <= 0) return false;
  *err = value;
  return true;
}

std::string ParseFaultRule(std::string_view line, FaultRule* rule, bool* blank) {
  std::vector<std::string_view> tokens;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    if (i == line.size() || line[i] == '#') break;
    const size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
    tokens.push_back(line.substr(start, i - start));
  }
  *blank = tokens.empty();
  if (tokens.empty()) return "";
  if (tokens.size() < 3) return "expected '<op> <path-substring> <ERRNO|none> [options]'";
  FaultRule r;
  if (!ParseFaultOp(tokens[0], &r.op)) {
    return "unknown operation '" + std::string(tokens[0]) +
           "' (open write sync syncfs close rename mkdir remove symlink allocate truncate "
           "statfs any)";
  }
  r.path = std::string(tokens[1]);
  if (tokens[2] != "none" && !ParseErrno(tokens[2], &r.err)) {
    return "unknown errno '" + std::string(tokens[2]) + "' (a name such as EIO, or none)";
  }
  for (size_t t = 3; t < tokens.size(); ++t) {
    const std::string_view token = tokens[t];
    const size_t eq = token.find('=');
    const std::string_view key = token.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? "" : token.substr(eq + 1);
    int64_t number = 0;
    if (key == "count" && value == "inf") {
      r.count = FaultRule::kUnlimited;
    } else if ((key == "count" || key == "skip" || key == "delay_ms") &&
               ParseCount(value, &number)) {
      if (key == "count") r.count = number;
      if (key == "skip") r.skip = number;
      if (key == "delay_ms") {
        if (number > 3'600'000) return "delay_ms=" + std::string(value) + " is over an hour";
        r.delay_ms = static_cast<int>(number);
      }
    } else {
      return "bad option '" + std::string(token) +
             "' (count=N, count=inf, skip=N, delay_ms=D; N and D whole numbers)";
    }
  }
  if (r.err == 0 && r.delay_ms == 0) return "the rule has neither an errno nor a delay_ms";
  *rule = std::move(r);
  return "";
}

std::string FormatFaultRule(const FaultRule& rule) {
  std::string line = std::string(FaultOpName(rule.op)) + " " + rule.path + " " +
                     (rule.err == 0 ? std::string("none") : ErrnoName(rule.err));
  line +=
      rule.count == FaultRule::kUnlimited ? " count=inf" : " count=" + std::to_string(rule.count);
  if (rule.skip > 0) line += " skip=" + std::to_string(rule.skip);
  if (rule.delay_ms > 0) line += " delay_ms=" + std::to_string(rule.delay_ms);
  return line;
}

FaultInjectionEnv::FaultInjectionEnv(Env* target) : EnvWrapper(target) {}

FaultInjectionEnv::FaultInjectionEnv(Env* target, std::string rules_path)
    : EnvWrapper(target), rules_path_(std::move(rules_path)), log_path_(rules_path_ + ".log") {}

void FaultInjectionEnv::Add(const FaultRule& rule) {
  const std::lock_guard<std::mutex> lock(mu_);
  added_.push_back(rule);
}

void FaultInjectionEnv::Clear() {
  const std::lock_guard<std::mutex> lock(mu_);
  added_.clear();
}

int64_t FaultInjectionEnv::Injected(FaultOp op) const {
  const std::lock_guard<std::mutex> lock(mu_);
  if (op != FaultOp::kAny) return injected_[static_cast<size_t>(op)];
  int64_t total = 0;
  for (const int64_t n : injected_) total += n;
  return total;
}

int FaultInjectionEnv::Inject(FaultOp op, const std::string& path, const std::string& to) {
  Decision d = DecideAdded(op, path, to);
  if (!d.fire && !rules_path_.empty()) d = DecideFromFile(op, path, to);
  if (!d.fire) return 0;
  {
    const std::lock_guard<std::mutex> lock(mu_);
    ++injected_[static_cast<size_t>(op)];
  }
  if (!log_path_.empty()) LogFault(op, d.err, path, to);
  if (d.delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(d.delay_ms));
  return d.err;
}

FaultInjectionEnv::Decision FaultInjectionEnv::DecideAdded(FaultOp op, const std::string& path,
                                                           const std::string& to) {
  const std::lock_guard<std::mutex> lock(mu_);
  const int i = FirstMatch(added_, op, path, to);
  if (i < 0) return {};
  FaultRule& rule = added_[static_cast<size_t>(i)];
  if (!Consume(&rule)) return {};
  return {true, rule.err, rule.delay_ms};
}

FaultInjectionEnv::Decision FaultInjectionEnv::DecideFromFile(FaultOp op, const std::string& path,
                                                              const std::string& to) {
  const std::lock_guard<std::mutex> lock(file_mu_);
  RefreshLocked();
  const int i = FirstMatch(file_.rules, op, path, to);
  if (i < 0) return {};
  const FaultRule& rule = file_.rules[static_cast<size_t>(i)];
  // Nothing to consume: the cached copy decides, without a lock on the file.
  if (rule.count == FaultRule::kUnlimited && rule.skip == 0) {
    return {true, rule.err, rule.delay_ms};
  }
  return ConsumeLocked(op, path, to);
}

void FaultInjectionEnv::RefreshLocked() {
  // Looked at before every call (a stat(2), in test runs only): a test that changes the rules
  // and then makes a request must not race a cached copy.
  struct stat st {};
  if (stat(rules_path_.c_str(), &st) != 0) {
    file_ = FileRules{};
    return;
  }
  if (st.st_dev == file_.dev && st.st_ino == file_.ino && st.st_size == file_.size &&
      Nanos(st.st_mtim) == file_.mtime_ns && Nanos(st.st_ctim) == file_.ctime_ns) {
    return;
  }
  const int fd = open(rules_path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    file_ = FileRules{};
    return;
  }
  // Shared: a process rewriting the file holds it exclusively, so no half-written text is read.
  std::string text;
  if (LockFile(fd, LOCK_SH) && fstat(fd, &st) == 0 && ReadAll(fd, &text)) {
    file_.rules = ParseLocked(text, nullptr);
    file_.dev = st.st_dev;
    file_.ino = st.st_ino;
    file_.size = st.st_size;
    file_.mtime_ns = Nanos(st.st_mtim);
    file_.ctime_ns = Nanos(st.st_ctim);
  } else {
    file_ = FileRules{};
  }
  (void)close(fd);  // releases the lock
}

FaultInjectionEnv::Decision FaultInjectionEnv::ConsumeLocked(FaultOp op, const std::string& path,
                                                             const std::string& to) {
  const int fd = open(rules_path_.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) {
      file_ = FileRules{};
    } else {
      // Logged once per version of the file: the rules are dropped but its identity kept, so
      // it is not read again until it changes.
      DS_LOG(kWarning) << "fault rules " << rules_path_ << ": " << ErrnoText(err)
                       << "; its rules are off until it can be opened for writing";
      file_.rules.clear();
    }
    return {};
  }
  Decision decision;
  std::string text;
  struct stat st {};
  if (LockFile(fd, LOCK_EX) && ReadAll(fd, &text)) {
    std::vector<int> line_of_rule;
    std::vector<FaultRule> rules = ParseLocked(text, &line_of_rule);
    const int i = FirstMatch(rules, op, path, to);
    if (i >= 0) {
      FaultRule& rule = rules[static_cast<size_t>(i)];
      const int64_t count = rule.count;
      const int64_t skip = rule.skip;
      if (Consume(&rule)) decision = {true, rule.err, rule.delay_ms};
      if (rule.count != count || rule.skip != skip) {
        // The rule's line, with what is left of it; the rest of the file stays as written.
        std::vector<std::string> lines = SplitLines(text);
        std::string& line = lines[static_cast<size_t>(line_of_rule[static_cast<size_t>(i)])];
        line = FormatFaultRule(rule) + TrailingComment(line);
        std::string updated;
        for (const std::string& l : lines) updated += l + "\n";
        if (!WriteAllAt(fd, updated)) {
          // A consumption that cannot be recorded does not happen: firing anyway could fire a
          // count=1 rule again in every process.
          DS_LOG(kWarning) << "fault rules " << rules_path_ << ": rewriting: " << ErrnoText(errno)
                           << "; the call goes through";
          decision = {};
        }
      }
    }
    file_.rules = std::move(rules);
    if (fstat(fd, &st) == 0) {
      file_.dev = st.st_dev;
      file_.ino = st.st_ino;
      file_.size = st.st_size;
      file_.mtime_ns = Nanos(st.st_mtim);
      file_.ctime_ns = Nanos(st.st_ctim);
    }
  }
  (void)close(fd);  // releases the lock
  return decision;
}

std::vector<FaultRule> FaultInjectionEnv::ParseLocked(const std::string& text,
                                                      std::vector<int>* line_of_rule) {
  std::vector<FaultRule> rules;
  std::set<std::string> bad;
  const std::vector<std::string> lines = SplitLines(text);
  for (size_t n = 0; n < lines.size(); ++n) {
    FaultRule rule;
    bool blank = false;
    const std::string error = ParseFaultRule(lines[n], &rule, &blank);
    if (!error.empty()) {
      // Once per change: a line already reported as bad by the last parse is not reported
      // again (the file is re-read each time any process consumes a rule).
      if (reported_bad_lines_.count(lines[n]) == 0) {
        DS_LOG(kWarning) << "fault rules " << rules_path_ << ":" << n + 1 << ": " << error
                         << "; line ignored";
      }
      bad.insert(lines[n]);
      continue;
    }
    if (blank) continue;
    rules.push_back(std::move(rule));
    if (line_of_rule != nullptr) line_of_rule->push_back(static_cast<int>(n));
  }
  reported_bad_lines_ = std::move(bad);
  return rules;
}

void FaultInjectionEnv::LogFault(FaultOp op, int err, const std::string& path,
                                 const std::string& to) const {
  const std::string line = std::to_string(UnixMillis()) + " " + std::to_string(getpid()) + " " +
                           FaultOpName(op) + " " + (err == 0 ? "delay" : ErrnoName(err)) + " " +
                           path + (to.empty() ? "" : " " + to) + "\n";
  const int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;  // the fault still happens; only its record is lost
  // One write(2) with O_APPEND: lines of several processes never interleave. A short or failed
  // write loses only the record (glibc's fortified write() must not be ignored with a cast).
  if (write(fd, line.data(), line.size()) < 0) {
    DS_LOG(kWarning) << "fault log " << log_path_ << ": " << ErrnoText(errno);
  }
  (void)close(fd);
}

// ---- The calls: consult the rules, then fail as the real call would, or make it.

namespace {

Status InjectedFailure(const std::string& context, int e, int* err) {
  *err = e;
  return Status::IOError(context, e);
}

}  // namespace

Status FaultInjectionEnv::Disk(const std::string& path, DiskSpace* space) {
  if (const int e = Inject(FaultOp::kStatfs, path); e != 0) {
    return Status::IOError("statvfs " + path, e);
  }
  return EnvWrapper::Disk(path, space);
}

Status FaultInjectionEnv::DoOpen(const std::string& path, int flags, mode_t mode, int* fd,
                                 int* err) {
  if (const int e = Inject(FaultOp::kOpen, path); e != 0) {
    *fd = -1;
    return InjectedFailure("open " + path, e, err);
  }
  return EnvWrapper::DoOpen(path, flags, mode, fd, err);
}

Status FaultInjectionEnv::DoOpenAt(int dir_fd, const std::string& name, const std::string& path,
                                   int flags, mode_t mode, int* fd, int* err) {
  if (const int e = Inject(FaultOp::kOpen, path); e != 0) {
    *fd = -1;
    return InjectedFailure("open " + path, e, err);
  }
  return EnvWrapper::DoOpenAt(dir_fd, name, path, flags, mode, fd, err);
}

Status FaultInjectionEnv::DoWrite(int fd, const std::string& path, const void* data, size_t n,
                                  int* err) {
  if (const int e = Inject(FaultOp::kWrite, path); e != 0) {
    return InjectedFailure("write " + path, e, err);
  }
  return EnvWrapper::DoWrite(fd, path, data, n, err);
}

Status FaultInjectionEnv::DoWriteAt(int fd, const std::string& path, const void* data, size_t n,
                                    uint64_t offset, int* err) {
  if (const int e = Inject(FaultOp::kWrite, path); e != 0) {
    return InjectedFailure("write " + path, e, err);
  }
  return EnvWrapper::DoWriteAt(fd, path, data, n, offset, err);
}

Status FaultInjectionEnv::DoAllocate(int fd, const std::string& path, uint64_t size, int* err) {
  if (const int e = Inject(FaultOp::kAllocate, path); e != 0) {
    if (e == EOPNOTSUPP || e == ENOSYS || e == EINVAL) return Status::Ok();
    return InjectedFailure("fallocate " + path, e, err);
  }
  return EnvWrapper::DoAllocate(fd, path, size, err);
}

Status FaultInjectionEnv::DoTruncate(int fd, const std::string& path, uint64_t size, int* err) {
  if (const int e = Inject(FaultOp::kTruncate, path); e != 0) {
    return InjectedFailure("truncate " + path, e, err);
  }
  return EnvWrapper::DoTruncate(fd, path, size, err);
}

Status FaultInjectionEnv::DoSync(int fd, const std::string& path, int* err) {
  if (const int e = Inject(FaultOp::kSync, path); e != 0) {
    return InjectedFailure("fsync " + path, e, err);
  }
  return EnvWrapper::DoSync(fd, path, err);
}

Status FaultInjectionEnv::DoSyncFileSystem(const std::string& path, int* err) {
  if (const int e = Inject(FaultOp::kSyncFs, path); e != 0) {
    return InjectedFailure("syncfs " + path, e, err);
  }
  return EnvWrapper::DoSyncFileSystem(path, err);
}

Status FaultInjectionEnv::DoSyncPath(const std::string& path, int* err) {
  if (const int e = Inject(FaultOp::kSync, path); e != 0) {
    return InjectedFailure("fsync " + path, e, err);
  }
  return EnvWrapper::DoSyncPath(path, err);
}

Status FaultInjectionEnv::DoClose(int fd, const std::string& path, int* err) {
  if (const int e = Inject(FaultOp::kClose, path); e != 0) {
    int ignored = 0;
    // close(2) releases the descriptor even when it fails.
    (void)EnvWrapper::DoClose(fd, path, &ignored);
    return InjectedFailure("close " + path, e, err);
  }
  return EnvWrapper::DoClose(fd, path, err);
}

Status FaultInjectionEnv::DoRename(const std::string& from, const std::string& to, int* err) {
  if (const int e = Inject(FaultOp::kRename, from, to); e != 0) {
    return InjectedFailure("rename " + from + " to " + to, e, err);
  }
  return EnvWrapper::DoRename(from, to, err);
}

Status FaultInjectionEnv::DoMakeDirectory(const std::string& path, mode_t mode, bool* created,
                                          int* err) {
  if (const int e = Inject(FaultOp::kMkdir, path); e != 0) {
    if (created != nullptr) *created = false;
    if (e == EEXIST) return Status::Ok();
    return InjectedFailure("mkdir " + path, e, err);
  }
  return EnvWrapper::DoMakeDirectory(path, mode, created, err);
}

Status FaultInjectionEnv::DoMakeDirectoryAt(int dir_fd, const std::string& name,
                                            const std::string& path, mode_t mode, bool* created,
                                            int* err) {
  if (const int e = Inject(FaultOp::kMkdir, path); e != 0) {
    if (created != nullptr) *created = false;
    if (e == EEXIST) return Status::Ok();
    return InjectedFailure("mkdir " + path, e, err);
  }
  return EnvWrapper::DoMakeDirectoryAt(dir_fd, name, path, mode, created, err);
}

Status FaultInjectionEnv::DoSymlink(const std::string& target, const std::string& path, int* err) {
  if (const int e = Inject(FaultOp::kSymlink, path); e != 0) {
    return InjectedFailure("symlink " + path, e, err);
  }
  return EnvWrapper::DoSymlink(target, path, err);
}

Status FaultInjectionEnv::DoSymlinkAt(const std::string& target, int dir_fd,
                                      const std::string& name, const std::string& path, int* err) {
  if (const int e = Inject(FaultOp::kSymlink, path); e != 0) {
    return InjectedFailure("symlink " + path, e, err);
  }
  return EnvWrapper::DoSymlinkAt(target, dir_fd, name, path, err);
}

Status FaultInjectionEnv::DoRemoveFile(const std::string& path, int* err) {
  if (const int e = Inject(FaultOp::kRemove, path); e != 0) {
    if (e == ENOENT) return Status::Ok();
    return InjectedFailure("remove " + path, e, err);
  }
  return EnvWrapper::DoRemoveFile(path, err);
}

Status FaultInjectionEnv::DoRemoveTree(const std::string& path, int* err) {
  if (const int e = Inject(FaultOp::kRemove, path); e != 0) {
    if (e == ENOENT) return Status::Ok();
    return InjectedFailure("remove " + path, e, err);
  }
  return EnvWrapper::DoRemoveTree(path, err);
}

}  // namespace devserver
