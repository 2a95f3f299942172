#include "fcgi/pool/listen_socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "fcgi/base/users.h"

namespace devserver {
namespace {

bool IsUnix(const Config& config) { return config.socket[0] == '/'; }

Status FillUnixAddress(const std::string& path, sockaddr_un* addr) {
  std::memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  if (path.size() >= sizeof addr->sun_path) {
    return Status::InvalidArgument("socket path too long: " + path);
  }
  std::memcpy(addr->sun_path, path.c_str(), path.size());
  return Status::Ok();
}

// Whether a live process has the socket file at `path` (of `type`) open: connect(2) succeeds.
bool SomeoneHas(const std::string& path, int type) {
  sockaddr_un addr{};
  if (!FillUnixAddress(path, &addr).ok()) return false;
  int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool live = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return live;
}

// Binds a non-blocking Unix socket of `type` at `path` with the configured mode and group,
// listening when it is a stream socket.
Status BindUnix(const Config& config, const std::string& path, int type, int* out) {
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return Status::InvalidArgument("socket path " + path + " exists and is not a socket");
    }
    if (SomeoneHas(path, type)) {
      return Status::Unavailable("socket " + path + " is in use by another running process");
    }
  }
  std::string temp = path + ".new." + std::to_string(getpid());
  sockaddr_un addr{};
  Status s = FillUnixAddress(temp, &addr);
  if (!s.ok()) return s;
  int fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Status::IOError("socket", errno);
  unlink(temp.c_str());
  auto fail = [&](const std::string& what) {
    Status err = Status::IOError(what, errno);
    close(fd);
    unlink(temp.c_str());
    return err;
  };
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return fail("bind " + temp);
  if (chmod(temp.c_str(), config.socket_mode) != 0) return fail("chmod " + temp);
  if (!config.socket_group.empty()) {
    gid_t gid = 0;
    Status found = LookupGroup(config.socket_group, &gid);
    if (!found.ok()) {
      close(fd);
      unlink(temp.c_str());
      return found;
    }
    if (chown(temp.c_str(), static_cast<uid_t>(-1), gid) != 0) {
      return fail("chgrp " + config.socket_group + " " + temp);
    }
  }
  if (type == SOCK_STREAM && listen(fd, config.backlog) != 0) return fail("listen " + temp);
  if (rename(temp.c_str(), path.c_str()) != 0) return fail("rename " + temp + " to " + path);
  *out = fd;
  return Status::Ok();
}

Status OpenTcp(const Config& config, int* out) {
  size_t colon = config.socket.rfind(':');
  std::string host = config.socket.substr(0, colon);
  int port = std::atoi(config.socket.c_str() + colon + 1);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (port <= 0 || port > 65535 || inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return Status::InvalidArgument("socket '" + config.socket + "' is not IPv4-address:port");
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Status::IOError("socket", errno);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(fd, config.backlog) != 0) {
    Status err = Status::IOError("bind/listen " + config.socket, errno);
    close(fd);
    return err;
  }
  *out = fd;
  return Status::Ok();
}

}  // namespace

Status OpenListenSocket(const Config& config, int* fd) {
  return IsUnix(config) ? BindUnix(config, config.socket, SOCK_STREAM, fd) : OpenTcp(config, fd);
}

void RemoveListenSocket(const Config& config) {
  if (IsUnix(config)) unlink(config.socket.c_str());
}

Status OpenReadsSocket(const Config& config, int* fd) {
  *fd = -1;
  if (config.reads_socket.empty()) return Status::Ok();
  Status s = BindUnix(config, config.reads_socket, SOCK_DGRAM, fd);
  if (!s.ok()) return s;
  // A burst of reads queues here while the workers' recorders catch up; what does not fit
  // is dropped by nginx (non-blocking send), which costs only a little of the use record.
  int bytes = 1 << 20;
  setsockopt(*fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
  return Status::Ok();
}

void RemoveReadsSocket(const Config& config) {
  if (!config.reads_socket.empty()) unlink(config.reads_socket.c_str());
}

}  // namespace devserver
