#include "tests/fakegcs/fakegcs_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <Poco/File.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Path.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

namespace devserver::fakegcs {
namespace {

constexpr std::string_view kReadyPrefix = "listening on 127.0.0.1:";

std::runtime_error Error(const std::string& what) { return std::runtime_error("fakegcs: " + what); }

std::string ErrnoText() { return std::error_code(errno, std::generic_category()).message(); }

std::string MakeTempRoot() {
  // Poco::Path::temp() honours TMPDIR and ends in a slash.
  std::string templ = Poco::Path::temp() + "fakegcs-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) throw Error("mkdtemp: " + ErrnoText());
  return templ;
}

// Reads the child's first stdout line, giving up at the deadline or when the child exits.
std::string ReadFirstLine(int fd, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string line;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) throw Error("timed out waiting for the 'listening on' line");
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    char c;
    const ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error("exited before listening (see its stderr)");
    if (c == '\n') return line;
    line += c;
  }
}

std::string Encode(const std::string& s) {
  std::string out;
  Poco::URI::encode(s, "/?#[]@!$&'()*+,;=%: ", out);
  return out;
}

}  // namespace

std::string Fault::ToQuery() const {
  std::ostringstream q;
  auto add = [&q](const char* key, const auto& value) {
    if (value) q << '&' << key << '=' << *value;
  };
  add("status", status);
  add("delay_ms", delay_ms);
  add("stall_at", stall_at);
  add("truncate_at", truncate_at);
  add("corrupt_at", corrupt_at);
  add("pace_bps", pace_bps);
  add("count", count);
  add("range_start", range_start);
  if (all_scopes) q << "&scope=all";
  return q.str();
}

ObjectCounters CounterSnapshot::Of(const std::string& object_key) const {
  const auto it = objects.find(object_key);
  return it == objects.end() ? ObjectCounters{} : it->second;
}

FakeGcsProcess::FakeGcsProcess(const Options& options) {
  if (options.root.empty()) {
    root_ = MakeTempRoot();
    owns_root_ = true;
  } else {
    root_ = options.root;
    Poco::File(root_).createDirectories();
  }

  // Everything the child needs is prepared before fork(): after it, only async-signal-safe calls.
  std::vector<std::string> args = {options.binary, "--root", root_, "--port", "0"};
  if (options.verbose) args.push_back("--verbose");
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw Error("pipe: " + ErrnoText());
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) throw Error("fork: " + ErrnoText());
  if (pid_ == 0) {
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    // A crashed or killed test must not leave servers behind.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  try {
    const std::string line = ReadFirstLine(pipe_fds[0], options.start_timeout_ms);
    if (line.compare(0, kReadyPrefix.size(), kReadyPrefix) != 0) {
      throw Error("unexpected first line '" + line + "'");
    }
    port_ = static_cast<uint16_t>(std::stoi(line.substr(kReadyPrefix.size())));
  } catch (...) {
    ::close(pipe_fds[0]);
    Stop();
    throw;
  }
  // The server never writes to stdout again, so its end of the pipe can go.
  ::close(pipe_fds[0]);
}

FakeGcsProcess::~FakeGcsProcess() { Stop(); }

void FakeGcsProcess::Stop() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    pid_ = -1;
  }
  if (owns_root_) {
    owns_root_ = false;
    try {
      Poco::File(root_).remove(true);
    } catch (...) {
      // Best effort: a leftover temp dir must not fail the test that is shutting down.
    }
  }
}

std::string FakeGcsProcess::endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

std::string FakeGcsProcess::ObjectPath(const std::string& bucket, const std::string& name) const {
  return root_ + "/" + bucket + "/" + name;
}

void FakeGcsProcess::CreateBucket(const std::string& bucket) {
  Poco::File(root_ + "/" + bucket).createDirectories();
}

int64_t FakeGcsProcess::PutObject(const std::string& bucket, const std::string& name,
                                  std::string_view bytes) {
  // The scratch dir starts with '.', which the server never treats as a bucket.
  const std::string tmp_dir = root_ + "/.tmp";
  Poco::File(tmp_dir).createDirectories();
  const std::string tmp = tmp_dir + "/put-" + std::to_string(++temp_counter_);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) throw Error("cannot write " + tmp);
  }
  const std::string path = ObjectPath(bucket, name);
  // File times come from a coarse kernel clock, so two quick writes can share an mtime and thus
  // a generation. Stamp a precise time, and never reuse the replaced version's.
  timespec now;
  ::clock_gettime(CLOCK_REALTIME, &now);
  int64_t mtime_ns = static_cast<int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
  struct stat old;
  if (::stat(path.c_str(), &old) == 0) {
    const int64_t old_ns =
        static_cast<int64_t>(old.st_mtim.tv_sec) * 1'000'000'000 + old.st_mtim.tv_nsec;
    if (mtime_ns / 1000 <= old_ns / 1000) mtime_ns = (old_ns / 1000 + 1) * 1000;
  }
  const timespec times[2] = {
      now,
      {static_cast<time_t>(mtime_ns / 1'000'000'000), static_cast<long>(mtime_ns % 1'000'000'000)}};
  if (::utimensat(AT_FDCWD, tmp.c_str(), times, 0) != 0) {
    throw Error("utimensat " + tmp + ": " + ErrnoText());
  }
  Poco::File(Poco::Path(path).parent()).createDirectories();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    throw Error("rename to " + path + ": " + ErrnoText());
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw Error("stat " + path + ": " + ErrnoText());
  return (static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec) / 1000;
}

void FakeGcsProcess::RemoveObject(const std::string& bucket, const std::string& name) {
  ::unlink(ObjectPath(bucket, name).c_str());
}

std::string FakeGcsProcess::Control(const std::string& method, const std::string& path_and_query) {
  Poco::Net::HTTPClientSession session("127.0.0.1", port_);
  session.setTimeout(Poco::Timespan(10, 0));
  Poco::Net::HTTPRequest request(method, path_and_query, Poco::Net::HTTPMessage::HTTP_1_1);
  request.setContentLength(0);
  session.sendRequest(request);
  Poco::Net::HTTPResponse response;
  std::istream& in = session.receiveResponse(response);
  std::string body;
  Poco::StreamCopier::copyToString(in, body);
  if (response.getStatus() != Poco::Net::HTTPResponse::HTTP_OK) {
    throw Error(method + " " + path_and_query + " -> " + std::to_string(response.getStatus()) +
                ": " + body);
  }
  return body;
}

CounterSnapshot FakeGcsProcess::Counters() {
  const std::string body = Control("GET", "/_fake/counters");
  const auto root = Poco::JSON::Parser().parse(body).extract<Poco::JSON::Object::Ptr>();
  CounterSnapshot snapshot;
  for (const auto& [key, value] : *root) {
    if (key == "list") {
      snapshot.list = value.convert<uint64_t>();
    } else if (key == "media_bytes") {
      snapshot.media_bytes = value.convert<uint64_t>();
    } else if (key == "media_streams_max") {
      snapshot.media_streams_max = value.convert<uint64_t>();
    } else {
      const auto entry = value.extract<Poco::JSON::Object::Ptr>();
      snapshot.objects[key] = {entry->getValue<uint64_t>("media"),
                               entry->getValue<uint64_t>("metadata"),
                               entry->getValue<uint64_t>("media_bytes")};
    }
  }
  return snapshot;
}

void FakeGcsProcess::Reset() { Control("POST", "/_fake/reset"); }

void FakeGcsProcess::AddFault(const std::string& object_key, const Fault& fault) {
  Control("POST", "/_fake/fault?object=" + Encode(object_key) + fault.ToQuery());
}

void FakeGcsProcess::SetPace(uint64_t bps) {
  Control("POST", "/_fake/pace?bps=" + std::to_string(bps));
}

}  // namespace devserver::fakegcs
