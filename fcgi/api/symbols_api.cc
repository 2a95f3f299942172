// The crash-analysis endpoints: /stage_debug stages a build's breakpad symbols,
// /symbolicate_dump turns a minidump into a readable stack trace with them.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
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

// The tool's private scratch directory, holding a copy of the dump: the only place the
// sandboxed tool may write. Removed with what is in it when this goes out of scope.
class ScratchDir {
 public:
  ScratchDir() = default;
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir() {
    if (dir_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  Status Create(const std::string& parent, const std::string& dump) {
    Status s = MakeDirectories(parent, 0700);
    if (!s.ok()) return s;
    std::string dir = parent + "/stackwalk-XXXXXX";
    if (mkdtemp(dir.data()) == nullptr) {
      return Status::IOError("creating a directory in " + parent, errno);
    }
    dir_ = dir;
    dump_path_ = dir_ + "/upload.dmp";
    return WriteDump(dump);
  }
  const std::string& dir() const { return dir_; }
  const std::string& dump_path() const { return dump_path_; }

 private:
  // A plain write: the copy lives for one request, so it is never synced to disk.
  Status WriteDump(const std::string& bytes) const {
    const int fd = open(dump_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return Status::IOError("creating " + dump_path_, errno);
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int err = errno;
        close(fd);
        return Status::IOError("writing " + dump_path_, err);
      }
      done += static_cast<size_t>(n);
    }
    if (close(fd) != 0) return Status::IOError("writing " + dump_path_, errno);
    return Status::Ok();
  }

  std::string dir_;
  std::string dump_path_;
};

// The command line: the tool itself, or the tool inside devserver-sandbox (no network, the
// file system read-only but for the scratch directory, resource limits).
std::vector<std::string> StackwalkCommand(const Config& config, const ScratchDir& scratch,
                                          const std::string& symbols_dir) {
  std::vector<std::string> argv;
  if (!config.stackwalk_sandbox.empty()) {
    argv = {config.stackwalk_sandbox,
            "--write",
            scratch.dir(),
            "--read",
            config.stackwalk,
            "--max-cpu",
            std::to_string(config.stackwalk_timeout_s + 1)};
    if (!symbols_dir.empty()) {
      argv.emplace_back("--read");
      argv.push_back(symbols_dir);
    }
    argv.emplace_back("--");
  }
  argv.push_back(config.stackwalk);
  argv.push_back(scratch.dump_path());
  if (!symbols_dir.empty()) argv.push_back(symbols_dir);
  return argv;
}

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
  if (reason.empty() && err.rfind("devserver-sandbox: ", 0) == 0) {
    reason = err.substr(0, err.find('\n'));  // the tool never started
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

  ScratchDir scratch;
  s = scratch.Create(config.state_dir + "/tmp", dump->data);
  if (!s.ok()) return s;
  const std::vector<std::string> argv = StackwalkCommand(config, scratch, symbols_dir);
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
    return CannotTrace(FailureReason(result.err, scratch.dump_path()), result.exit_code);
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
