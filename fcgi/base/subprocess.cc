#include "fcgi/base/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>
#include <vector>

extern char** environ;

namespace devserver {
namespace {

using Clock = std::chrono::steady_clock;

// Owns a descriptor; closes it once.
class Fd {
 public:
  Fd() = default;
  ~Fd() { Close(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void Reset(int fd) {
    Close();
    fd_ = fd;
  }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// A close-on-exec pipe whose ends are both >= 3. A caller that runs with 0, 1 or 2 closed
// would otherwise get a pipe end there, and the child's dup2 onto 0/1/2 would clobber it.
int MakePipe(Fd* read_end, Fd* write_end) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return errno;
  read_end->Reset(fds[0]);
  write_end->Reset(fds[1]);
  for (Fd* end : {read_end, write_end}) {
    if (end->get() >= 3) continue;
    int moved = fcntl(end->get(), F_DUPFD_CLOEXEC, 3);
    if (moved < 0) return errno;
    end->Reset(moved);
  }
  return 0;
}

class SpawnSettings {
 public:
  SpawnSettings() {
    posix_spawn_file_actions_init(&actions_);
    posix_spawnattr_init(&attr_);
  }
  ~SpawnSettings() {
    posix_spawn_file_actions_destroy(&actions_);
    posix_spawnattr_destroy(&attr_);
  }
  SpawnSettings(const SpawnSettings&) = delete;
  SpawnSettings& operator=(const SpawnSettings&) = delete;

  // Returns 0 or the errno of the step that failed.
  int Prepare(int out_fd, int err_fd) {
    int rc = posix_spawn_file_actions_addopen(&actions_, 0, "/dev/null", O_RDONLY, 0);
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions_, out_fd, 1);
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions_, err_fd, 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    // Close-on-exec already covers our own descriptors; this also covers ones that libraries
    // (or a plugin) opened without O_CLOEXEC.
    if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions_, 3);
#endif
    // A group of its own, so a timeout kills whatever the tool started as well. Signal mask
    // and dispositions start clean: workers may block or ignore signals (SIGPIPE, SIGTERM)
    // that the tool must not inherit.
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    if (rc == 0) rc = posix_spawnattr_setpgroup(&attr_, 0);
    if (rc == 0) rc = posix_spawnattr_setsigmask(&attr_, &none);
    if (rc == 0) rc = posix_spawnattr_setsigdefault(&attr_, &all);
    if (rc == 0) {
      rc = posix_spawnattr_setflags(
          &attr_, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    }
    return rc;
  }

  const posix_spawn_file_actions_t* actions() const { return &actions_; }
  const posix_spawnattr_t* attr() const { return &attr_; }

 private:
  posix_spawn_file_actions_t actions_;
  posix_spawnattr_t attr_;
};

// One output stream of the child: kept up to a limit, drained to the end regardless so the
// child never blocks on a full pipe.
struct Stream {
  Fd* fd;
  size_t limit;
  std::string* text;
  bool* truncated;
};

void Consume(const char* data, size_t n, const Stream& stream) {
  size_t room = stream.limit - std::min(stream.limit, stream.text->size());
  size_t keep = std::min(n, room);
  stream.text->append(data, keep);
  if (keep < n) *stream.truncated = true;
}

int MillisecondsUntil(Clock::time_point deadline) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(left.count(), 0, 1 << 30));
}

// Reads both streams until they end or the deadline passes; false at the deadline.
bool Drain(Stream (&streams)[2], Clock::time_point deadline) {
  std::vector<char> buf(64 << 10);
  for (;;) {
    pollfd fds[2];
    nfds_t n = 0;
    for (const Stream& s : streams) {
      if (s.fd->get() >= 0) fds[n++] = {s.fd->get(), POLLIN, 0};
    }
    if (n == 0) return true;
    int timeout = MillisecondsUntil(deadline);
    if (timeout == 0) return false;
    int ready = poll(fds, n, timeout);
    if (ready < 0 && errno != EINTR) return true;  // cannot happen with valid fds; reap below
    if (ready <= 0) continue;
    for (nfds_t i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      for (Stream& s : streams) {
        if (s.fd->get() != fds[i].fd) continue;
        ssize_t got = read(s.fd->get(), buf.data(), buf.size());
        if (got > 0) {
          Consume(buf.data(), static_cast<size_t>(got), s);
        } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
          s.fd->Close();
        }
      }
    }
  }
}

void KillGroup(pid_t pid) {
  // The child leads its group and is not reaped yet, so -pid cannot miss; should it ever,
  // the child itself still dies.
  if (kill(-pid, SIGKILL) != 0) kill(pid, SIGKILL);
}

void RecordStatus(int status, ProcessResult* result) {
  if (WIFEXITED(status)) {
    result->exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result->term_signal = WTERMSIG(status);
  }
}

// Waits for the child until the deadline; false if it is still running then. The streams
// have ended, so the child is normally exiting right now; the backoff is for one that closed
// them early and keeps running.
bool WaitUntil(pid_t pid, Clock::time_point deadline, ProcessResult* result) {
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    int status = 0;
    pid_t got = waitpid(pid, &status, WNOHANG);
    if (got == pid) {
      RecordStatus(status, result);
      return true;
    }
    // ECHILD: someone else reaped it (SIGCHLD ignored); the exit status is lost.
    if (got < 0 && errno != EINTR) return true;
    int left = MillisecondsUntil(deadline);
    if (left == 0) return false;
    std::this_thread::sleep_for(std::min(pause, std::chrono::milliseconds(left)));
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

void WaitForExit(pid_t pid, ProcessResult* result) {
  for (;;) {
    int status = 0;
    pid_t got = waitpid(pid, &status, 0);
    if (got == pid) {
      RecordStatus(status, result);
      return;
    }
    if (got < 0 && errno != EINTR) return;
  }
}

}  // namespace

Status RunProcess(const std::vector<std::string>& argv, const ProcessLimits& limits,
                  ProcessResult* result) {
  *result = ProcessResult{};
  if (argv.empty() || argv[0].empty()) return Status::Failed("cannot run an empty command");
  const std::string& path = argv[0];
  // posix_spawn would resolve a relative path against the working directory, which is
  // never what a caller means.
  if (path[0] != '/') return Status::Failed("cannot run " + path + ": not an absolute path");
  const Clock::time_point deadline = Clock::now() + limits.timeout;

  Fd out_read, out_write, err_read, err_write;
  int rc = MakePipe(&out_read, &out_write);
  if (rc == 0) rc = MakePipe(&err_read, &err_write);
  if (rc != 0) return Status::IOError("cannot run " + path + ": pipe", rc);

  SpawnSettings settings;
  rc = settings.Prepare(out_write.get(), err_write.get());
  if (rc != 0) return Status::IOError("cannot run " + path + ": posix_spawn setup", rc);

  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  // glibc's posix_spawn reports a failed exec (ENOENT, EACCES, ENOEXEC) as its return value.
  rc = posix_spawn(&pid, path.c_str(), settings.actions(), settings.attr(), args.data(), environ);
  // Only the child may hold the write ends, or the reads below would never see the end.
  out_write.Close();
  err_write.Close();
  if (rc != 0) return Status::Failed("cannot run " + path + ": " + ErrnoText(rc));

  Stream streams[2] = {{&out_read, limits.max_stdout, &result->out, &result->out_truncated},
                       {&err_read, limits.max_stderr, &result->err, &result->err_truncated}};
  // The kill always comes before the reap: while the leader is an unreaped zombie its pid
  // cannot be reused, so -pid still names our group.
  if (!Drain(streams, deadline) || !WaitUntil(pid, deadline, result)) {
    KillGroup(pid);
    result->timed_out = true;
    // A grandchild that left the group may still hold a pipe; nothing more is read.
    out_read.Close();
    err_read.Close();
    WaitForExit(pid, result);
  }
  return Status::Ok();
}

}  // namespace devserver
