#include "fcgi/storage/http_transport.h"

#include <Poco/Exception.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SSLException.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/URI.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <mutex>

#include "fcgi/metrics/metrics.h"

namespace devserver::storage {
namespace {

using Kind = TransportError::Kind;

// The `code` label of a request that got no answer.
std::string KindName(Kind kind) {
  switch (kind) {
    case Kind::kNone:
      break;
    case Kind::kConnect:
      return "connect";
    case Kind::kTimeout:
      return "timeout";
    case Kind::kClosed:
      return "closed";
    case Kind::kProtocol:
      return "protocol";
    case Kind::kCertificate:
      return "certificate";
  }
  return "none";
}

// Small-response reads; large bodies go through the caller's buffer.
constexpr size_t kSmallReadSize = size_t{64} << 10;
// The stream fallback blocks until it has this much or the body ends, so keep it modest.
constexpr size_t kStreamReadSize = size_t{64} << 10;

TransportError Classify(const Poco::Exception& e, const HttpEndpoint& endpoint) {
  TransportError err;
  err.message = endpoint.ToString() + ": " + e.displayText();
  if (dynamic_cast<const Poco::Net::CertificateValidationException*>(&e) != nullptr ||
      (dynamic_cast<const Poco::Net::SSLException*>(&e) != nullptr &&
       // OpenSSL reports a failed chain check only in the handshake error's text.
       e.displayText().find("certificate verify failed") != std::string::npos)) {
    err.kind = Kind::kCertificate;
  } else if (dynamic_cast<const Poco::TimeoutException*>(&e) != nullptr) {
    err.kind = Kind::kTimeout;
  } else if (dynamic_cast<const Poco::Net::ConnectionRefusedException*>(&e) != nullptr ||
             dynamic_cast<const Poco::Net::DNSException*>(&e) != nullptr ||
             dynamic_cast<const Poco::Net::InvalidAddressException*>(&e) != nullptr) {
    err.kind = Kind::kConnect;
  } else if (dynamic_cast<const Poco::Net::MessageException*>(&e) != nullptr) {
    err.kind = Kind::kProtocol;
  } else {
    // Resets, "No message received", broken pipes, TLS records cut short.
    err.kind = Kind::kClosed;
  }
  return err;
}

bool IsDefaultPort(const HttpEndpoint& e) {
  return (e.https && e.port == 443) || (!e.https && e.port == 80);
}

}  // namespace

std::string HttpEndpoint::ToString() const {
  std::string out = https ? "https://" : "http://";
  out += host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (!IsDefaultPort(*this)) out += ":" + std::to_string(port);
  return out + base_path;
}

Status ParseHttpUrl(const std::string& url, HttpEndpoint* endpoint, std::string* target) {
  Poco::URI uri;
  try {
    uri = Poco::URI(url);
  } catch (const Poco::Exception& e) {
    return Status::InvalidArgument("invalid URL '" + url + "': " + e.displayText());
  }
  const std::string scheme = uri.getScheme();
  if (scheme != "http" && scheme != "https") {
    return Status::InvalidArgument("'" + url + "' is not an http:// or https:// URL");
  }
  if (uri.getHost().empty()) return Status::InvalidArgument("'" + url + "' names no host");
  endpoint->https = scheme == "https";
  endpoint->host = uri.getHost();
  endpoint->port = uri.getPort();
  endpoint->base_path.clear();
  *target = uri.getPathAndQuery();
  if (target->empty()) *target = "/";
  return Status::Ok();
}

std::string PercentEncode(const std::string& s, std::string_view keep) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~' || keep.find(ch) != std::string_view::npos) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

Poco::Net::Context::Ptr MakeSystemTlsContext(Status* status) {
  static std::once_flag ssl_once;
  std::call_once(ssl_once, [] { Poco::Net::initializeSSL(); });
  try {
    Poco::Net::Context::Params params;
    params.verificationMode = Poco::Net::Context::VERIFY_RELAXED;  // a client: verify the server
    params.loadDefaultCAs = true;
    params.cipherList = "DEFAULT";
    return new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, params);
  } catch (const Poco::Exception& e) {
    *status = Status::Failed("cannot set up TLS: " + e.displayText());
    return nullptr;
  }
}

HttpConnection::HttpConnection(const HttpEndpoint& endpoint, const HttpTimeouts& timeouts,
                               Poco::Net::Context::Ptr tls, const char* counted_as)
    : endpoint_(endpoint),
      requests_family_(std::string(counted_as) + "_requests_total"),
      bytes_counter_(std::string(counted_as) + "_bytes_total") {
  if (endpoint.https) {
    session_ = std::make_unique<Poco::Net::HTTPSClientSession>(endpoint.host, endpoint.port,
                                                               std::move(tls));
  } else {
    session_ = std::make_unique<Poco::Net::HTTPClientSession>(endpoint.host, endpoint.port);
  }
  const Poco::Timespan receive(static_cast<Poco::Timespan::TimeDiff>(timeouts.receive_ms) * 1000);
  session_->setTimeout(
      Poco::Timespan(static_cast<Poco::Timespan::TimeDiff>(timeouts.connect_ms) * 1000), receive,
      receive);
  session_->setKeepAlive(true);
}

HttpConnection::~HttpConnection() = default;

TransportError HttpConnection::Start(const HttpRequest& request) {
  const bool reused = used_ && session_->connected();
  TransportError err = StartOnce(request);
  if (reused && err.kind == Kind::kClosed) err = StartOnce(request);
  const std::string code =
      err.ok() ? std::to_string(static_cast<int>(response_.getStatus())) : KindName(err.kind);
  metrics::Add(metrics::Series(requests_family_, {{"method", request.method}, {"code", code}}));
  return err;
}

TransportError HttpConnection::StartOnce(const HttpRequest& request) {
  mode_ = Mode::kNone;
  remaining_ = 0;
  leftover_.resize(0);
  leftover_pos_ = 0;
  stream_ = nullptr;
  body_done_ = false;
  error_ = TransportError();
  try {
    Poco::Net::HTTPRequest req(request.method, request.target, Poco::Net::HTTPMessage::HTTP_1_1);
    for (const auto& [name, value] : request.headers) req.set(name, value);
    const bool has_body = !request.body.empty() || request.method == "POST";
    if (has_body) {
      if (!request.content_type.empty()) req.setContentType(request.content_type);
      req.setContentLength64(static_cast<Poco::Int64>(request.body.size()));
    }
    std::ostream& out = session_->sendRequest(req);
    if (has_body) out.write(request.body.data(), static_cast<std::streamsize>(request.body.size()));
    std::istream& in = session_->receiveResponse(response_);
    used_ = true;

    const int status = response_.getStatus();
    if (request.method == "HEAD" || status == 204 || status == 304 || status < 200) {
      mode_ = Mode::kFixed;
      body_done_ = true;
    } else if (response_.getChunkedTransferEncoding() || !response_.hasContentLength()) {
      mode_ = Mode::kStream;
      stream_ = &in;
    } else {
      mode_ = Mode::kFixed;
      remaining_ = static_cast<uint64_t>(response_.getContentLength64());
      session_->drainBuffer(leftover_);
      body_done_ = remaining_ == 0;
    }
    return {};
  } catch (const Poco::Exception& e) {
    session_->reset();
    used_ = false;
    return Classify(e, endpoint_);
  }
}

BodyRead HttpConnection::ReadBody(char* buf, size_t cap, int wait_ms, size_t* got) {
  *got = 0;
  BodyRead read = BodyRead::kBroken;
  switch (mode_) {
    case Mode::kFixed:
      read = ReadFixed(buf, cap, wait_ms, got);
      break;
    case Mode::kStream:
      read = ReadStream(buf, cap, got);
      break;
    case Mode::kNone:
      return Broken(Kind::kProtocol, "no response to read");
  }
  if (read == BodyRead::kData) bytes_counter_.Add(*got);
  return read;
}

BodyRead HttpConnection::ReadFixed(char* buf, size_t cap, int wait_ms, size_t* got) {
  if (remaining_ == 0) {
    body_done_ = true;
    return BodyRead::kEnd;
  }
  const size_t want = static_cast<size_t>(std::min<uint64_t>({cap, remaining_, INT_MAX}));
  if (leftover_pos_ < leftover_.size()) {
    const size_t n = std::min(want, leftover_.size() - leftover_pos_);
    std::memcpy(buf, leftover_.begin() + leftover_pos_, n);
    leftover_pos_ += n;
    remaining_ -= n;
    body_done_ = remaining_ == 0;
    *got = n;
    return BodyRead::kData;
  }
  Poco::Net::StreamSocket& socket = session_->socket();
  try {
    // TLS may hold decrypted bytes that poll() cannot see.
    if (socket.available() <= 0 &&
        !socket.poll(Poco::Timespan(static_cast<Poco::Timespan::TimeDiff>(wait_ms) * 1000),
                     Poco::Net::Socket::SELECT_READ)) {
      return BodyRead::kIdle;
    }
    const int n = socket.receiveBytes(buf, static_cast<int>(want));
    if (n < 0) return BodyRead::kIdle;  // a TLS record is still incomplete
    if (n == 0) {
      return Broken(Kind::kClosed, endpoint_.ToString() + ": connection closed with " +
                                       std::to_string(remaining_) + " body bytes still due");
    }
    remaining_ -= static_cast<uint64_t>(n);
    body_done_ = remaining_ == 0;
    *got = static_cast<size_t>(n);
    return BodyRead::kData;
  } catch (const Poco::TimeoutException&) {
    return BodyRead::kIdle;
  } catch (const Poco::Exception& e) {
    TransportError err = Classify(e, endpoint_);
    return Broken(err.kind, err.message);
  }
}

BodyRead HttpConnection::ReadStream(char* buf, size_t cap, size_t* got) {
  try {
    stream_->read(buf, static_cast<std::streamsize>(std::min(cap, kStreamReadSize)));
    const std::streamsize n = stream_->gcount();
    if (n > 0) {
      *got = static_cast<size_t>(n);
      return BodyRead::kData;
    }
    if (!stream_->bad()) {
      body_done_ = true;
      return BodyRead::kEnd;
    }
    const Poco::Exception* e = session_->networkException();
    if (e == nullptr) return Broken(Kind::kClosed, endpoint_.ToString() + ": body stream failed");
    TransportError err = Classify(*e, endpoint_);
    if (err.kind == Kind::kTimeout) {
      Close();
      error_ = err;
      return BodyRead::kStalled;
    }
    return Broken(err.kind, err.message);
  } catch (const Poco::Exception& e) {
    TransportError err = Classify(e, endpoint_);
    return Broken(err.kind, err.message);
  }
}

BodyRead HttpConnection::Broken(Kind kind, std::string message) {
  Close();
  error_.kind = kind;
  error_.message = std::move(message);
  return BodyRead::kBroken;
}

TransportError HttpConnection::ReadAll(size_t max_bytes, std::string* body, bool* too_large) {
  body->clear();
  if (too_large != nullptr) *too_large = false;
  std::string chunk(kSmallReadSize, '\0');
  const int wait_ms = static_cast<int>(session_->getTimeout().totalMilliseconds());
  for (;;) {
    size_t got = 0;
    switch (ReadBody(chunk.data(), chunk.size(), wait_ms, &got)) {
      case BodyRead::kData:
        if (body->size() + got > max_bytes) {
          body->append(chunk.data(), max_bytes - body->size());
          Close();
          if (too_large != nullptr) {
            *too_large = true;
            return {};
          }
          return {Kind::kProtocol, endpoint_.ToString() + ": response larger than " +
                                       std::to_string(max_bytes) + " bytes"};
        }
        body->append(chunk.data(), got);
        break;
      case BodyRead::kEnd:
        return {};
      case BodyRead::kIdle:
        Close();
        return {Kind::kTimeout,
                endpoint_.ToString() + ": no response data for " + std::to_string(wait_ms) + " ms"};
      case BodyRead::kStalled:
      case BodyRead::kBroken:
        return error_;
    }
  }
}

bool HttpConnection::Reusable() const {
  return body_done_ && session_->connected() && response_.getKeepAlive() &&
         leftover_pos_ >= leftover_.size();
}

void HttpConnection::Close() {
  session_->reset();
  used_ = false;
  body_done_ = false;
}

ConnectionPool::ConnectionPool(HttpEndpoint endpoint, HttpTimeouts timeouts,
                               Poco::Net::Context::Ptr tls, size_t max_idle)
    : endpoint_(std::move(endpoint)),
      timeouts_(timeouts),
      tls_(std::move(tls)),
      max_idle_(max_idle) {}

std::unique_ptr<HttpConnection> ConnectionPool::Acquire() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      std::unique_ptr<HttpConnection> c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
  }
  return std::make_unique<HttpConnection>(endpoint_, timeouts_, tls_);
}

void ConnectionPool::Release(std::unique_ptr<HttpConnection> connection) {
  if (connection == nullptr || !connection->Reusable()) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (idle_.size() < max_idle_) idle_.push_back(std::move(connection));
}

}  // namespace devserver::storage
