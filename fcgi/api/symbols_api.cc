// The crash-analysis endpoints: /stage_debug stages a build's breakpad symbols,
// /symbolicate_dump turns a minidump into a readable stack trace with them.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <semaphore>
#include <sstream>

#include "fcgi/api/endpoints.h"
#include "fcgi/api/staging_calls.h"
#include "fcgi/base/fs.h"
#include "fcgi/base/subprocess.h"
#include "fcgi/http/multipart.h"

namespace devserver {
namespace {

constexpr const char* kSymbols = "symbols";
constexpr size_t kMaxTraceBytes = 4 << 20;

// minidump_stackwalk loads whole symbol files (hundreds of MiB for a browser): a burst of
// dumps runs two at a time per worker and the rest wait their turn, rather than all at once
// exhausting the host's memory.
std::counting_semaphore<2> stackwalk_slots(2);

class StackwalkSlot {
 public:
  StackwalkSlot() { stackwalk_slots.acquire(); }
  ~StackwalkSlot() { stackwalk_slots.release(); }
  StackwalkSlot(const StackwalkSlot&) = delete;
  StackwalkSlot& operator=(const StackwalkSlot&) = delete;
};

Status StageDebug(const ServiceInfo& service, const Request& req, Response* resp) {
  BuildRef ref;
  Status s = ParseBuild(service, req, &ref);
  if (!s.ok()) return s;
  return StageAndWait(service, req, ref, {kSymbols}, resp);
}

const FormPart* FindPart(const std::vector<FormPart>& parts, const std::string& name) {
  for (const FormPart& part : parts) {
    if (part.name == name) return &part;
  }
  return nullptr;
}

// A private copy of the dump for the tool; removed when this goes out of scope.
class DumpFile {
 public:
  ~DumpFile() {
    if (!path_.empty()) unlink(path_.c_str());
  }
  Status Write(const std::string& dir, const std::string& bytes) {
    Status s = MakeDirectories(dir, 0700);
    if (!s.ok()) return s;
    std::string path = dir + "/minidump-XXXXXX";
    int fd = mkostemp(path.data(), O_CLOEXEC);
    if (fd < 0) return Status::IOError("creating a file in " + dir, errno);
    path_ = path;
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int err = errno;
        close(fd);
        return Status::IOError("writing " + path_, err);
      }
      done += static_cast<size_t>(n);
    }
    if (close(fd) != 0) return Status::IOError("writing " + path_, errno);
    return Status::Ok();
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The one line a failed run leaves for the caller. minidump_stackwalk logs
// "<time>: <file>:<line>: ERROR: <what>"; its last ERROR says what went wrong, without the log
// prefix and with our private copy's path spelled as what it is to the caller.
std::string FailureReason(const std::string& err, const std::string& dump_path) {
  std::string reason;
  std::istringstream lines(err);
  for (std::string line; std::getline(lines, line);) {
    size_t at = line.find(": ERROR: ");
    if (at != std::string::npos) reason = line.substr(at + 9);
  }
  if (reason.empty()) return "minidump_stackwalk failed";
  for (size_t at = reason.find(dump_path); at != std::string::npos; at = reason.find(dump_path)) {
    reason.replace(at, dump_path.size(), "(uploaded dump)");
  }
  while (!reason.empty() && (reason.back() == '\r' || reason.back() == ' ')) reason.pop_back();
  return reason;
}

Status CannotTrace(const std::string& reason, int rc) {
  return Status::Failed("Can't generate stack trace: " + reason + " (rc=" + std::to_string(rc) +
                        ")");
}

Status SymbolicateDump(const ServiceInfo& service, const Request& req, Response* resp) {
  const Config& config = service.config;
  std::vector<FormPart> parts;
  Status s = ReadMultipartForm(req, static_cast<size_t>(config.max_dump_mib) << 20, &parts);
  if (!s.ok()) return s;
  const FormPart* dump = FindPart(parts, "minidump");
  if (dump == nullptr) return Status::InvalidArgument("minidump: the form field is required");
  if (dump->data.empty()) return Status::InvalidArgument("minidump is empty");

  // archive_url may come in the query (old clients) or as a form field.
  std::string symbols_dir;
  const FormPart* url_part = FindPart(parts, "archive_url");
  const std::string* raw = req.query.Find("archive_url");
  if (raw == nullptr && url_part != nullptr) raw = &url_part->data;
  if (raw != nullptr) {
    BuildRef ref;
    s = ParseArchiveUrl(*raw, config.allowed_buckets, &ref);
    Response staged;
    if (s.ok()) s = StageAndWait(service, req, ref, {kSymbols}, &staged);
    if (!s.ok()) return s;
    symbols_dir = BuildDir(service, ref.folder) + "/debug/breakpad";
  }

  DumpFile file;
  s = file.Write(config.state_dir + "/tmp", dump->data);
  if (!s.ok()) return s;
  std::vector<std::string> argv = {config.stackwalk, file.path()};
  if (!symbols_dir.empty()) argv.push_back(symbols_dir);
  ProcessLimits limits;
  limits.timeout = std::chrono::seconds(config.stackwalk_timeout_s);
  limits.max_stdout = kMaxTraceBytes;
  ProcessResult result;
  {
    StackwalkSlot slot;
    s = RunProcess(argv, limits, &result);
  }
  if (!s.ok()) return CannotTrace(s.message(), -1);
  if (result.timed_out) {
    return CannotTrace(
        "minidump_stackwalk ran longer than " + std::to_string(config.stackwalk_timeout_s) + " s",
        -result.term_signal);
  }
  if (result.term_signal != 0) {
    return CannotTrace(
        "minidump_stackwalk was killed by signal " + std::to_string(result.term_signal),
        -result.term_signal);
  }
  if (result.exit_code != 0) {
    return CannotTrace(FailureReason(result.err, file.path()), result.exit_code);
  }
  if (result.out_truncated) {
    result.out += "\n[trace truncated at " + std::to_string(kMaxTraceBytes) + " bytes]\n";
  }
  *resp = Response::Text(std::move(result.out));
  return Status::Ok();
}

}  // namespace

void RegisterSymbolsEndpoints(const ServiceInfo& service, Router* router) {
  router->Add({"/stage_debug",
               {"GET"},
               "Stage a build's breakpad symbols (the symbols artifact).",
               "GET /stage_debug?archive_url=...\n\n"
               "Stages debug.tgz's debug/breakpad/ tree into <build>/debug/breakpad/ and "
               "answers 'Success'; 500 with the cause if it failed.\n",
               ServiceHandler(service, StageDebug)});
  router->Add(
      {"/symbolicate_dump",
       {"POST"},
       "Symbolicate a minidump: the text stack trace minidump_stackwalk makes of it.",
       "POST /symbolicate_dump[?archive_url=...]  (multipart/form-data)\n\n"
       "  minidump     the dump (form field, required; at most [symbolicate] max_dump_mib MiB)\n"
       "  archive_url  optional (query or form field): stage the build's symbols first and "
       "use them\n\n"
       "The output of minidump_stackwalk <dump> <build>/debug/breakpad; 500 \"Can't generate "
       "stack trace: <reason> (rc=N)\" when it fails or runs longer than [symbolicate] "
       "timeout.\n",
       ServiceHandler(service, SymbolicateDump)});
}

}  // namespace devserver
