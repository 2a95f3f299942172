#include "tests/integration/http_client.h"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <sstream>

namespace devserver::testing {

HttpResult HttpCall(int port, const std::string& method, const std::string& target,
                    const std::map<std::string, std::string>& headers, const std::string& body,
                    int timeout_ms) {
  HttpResult result;
  try {
    Poco::Net::HTTPClientSession session("127.0.0.1", static_cast<Poco::UInt16>(port));
    session.setTimeout(Poco::Timespan(0, static_cast<long>(timeout_ms) * 1000));
    Poco::Net::HTTPRequest request(method, target, Poco::Net::HTTPMessage::HTTP_1_1);
    for (const auto& [name, value] : headers) request.set(name, value);
    if (!body.empty() || method == "POST")
      request.setContentLength(static_cast<std::streamsize>(body.size()));
    std::ostream& out = session.sendRequest(request);
    out << body;
    Poco::Net::HTTPResponse response;
    std::istream& in = session.receiveResponse(response);
    std::ostringstream collected;
    Poco::StreamCopier::copyStream(in, collected);
    result.status = static_cast<int>(response.getStatus());
    result.body = collected.str();
    for (const auto& [name, value] : response) result.headers[name] = value;
  } catch (const Poco::Exception& e) {
    result.error = e.displayText();
  } catch (const std::exception& e) {
    result.error = e.what();
  }
  return result;
}

namespace {

// Milliseconds left until `deadline`, at least 0.
int MsLeft(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

// Parses a complete HTTP/1.x response; the body is what follows the headers.
HttpResult ParseResponse(const std::string& raw) {
  HttpResult result;
  size_t head_end = raw.find("\r\n\r\n");
  if (raw.compare(0, 5, "HTTP/") != 0 || head_end == std::string::npos) {
    result.error = "no HTTP response (" + std::to_string(raw.size()) + " bytes)";
    return result;
  }
  size_t space = raw.find(' ');
  result.status = std::atoi(raw.c_str() + space + 1);
  size_t line = raw.find("\r\n") + 2;
  while (line < head_end) {
    size_t eol = raw.find("\r\n", line);
    std::string header = raw.substr(line, eol - line);
    size_t colon = header.find(':');
    if (colon != std::string::npos) {
      size_t value = header.find_first_not_of(' ', colon + 1);
      result.headers[header.substr(0, colon)] =
          value == std::string::npos ? "" : header.substr(value);
    }
    line = eol + 2;
  }
  result.body = raw.substr(head_end + 4);
  return result;
}

}  // namespace

RawConnection::RawConnection(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return;
  }
  fd_ = fd;
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) close(fd_);
}

bool RawConnection::Send(const std::string& bytes) {
  size_t done = 0;
  while (ok() && done < bytes.size()) {
    ssize_t n = send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return ok();
}

bool RawConnection::ClosedByPeer(int timeout_ms) {
  if (!ok()) return true;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[4096];
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    int ready = poll(&p, 1, MsLeft(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;
  }
}

HttpResult RawConnection::ReadResponse(int timeout_ms) {
  HttpResult result;
  if (!ok()) {
    result.error = "not connected";
    return result;
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string raw;
  char buf[65536];
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    int ready = poll(&p, 1, MsLeft(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      result.error = "timed out after " + std::to_string(raw.size()) + " bytes";
      return result;
    }
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    // A reset after the response (nginx closing on unread body bytes) still leaves it whole.
    if (n <= 0) break;
    raw.append(buf, static_cast<size_t>(n));
  }
  return ParseResponse(raw);
}

HttpResult RawHttpCall(int port, const std::string& request, int timeout_ms) {
  RawConnection connection(port);
  HttpResult result;
  if (!connection.ok()) {
    result.error = "cannot connect to port " + std::to_string(port);
    return result;
  }
  connection.Send(request);  // the server may answer before it has read everything
  return connection.ReadResponse(timeout_ms);
}

}  // namespace devserver::testing
