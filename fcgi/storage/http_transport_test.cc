#include "fcgi/storage/http_transport.h"

#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <future>
#include <string>
#include <thread>
#include <vector>

namespace devserver::storage {
namespace {

using ::testing::HasSubstr;

// A server whose connections follow a script, for what a well-behaved HTTP server never does:
// cut bodies, go silent, drop kept-alive connections.
class ScriptedServer {
 public:
  // `script(socket, n)` runs for the n-th accepted connection (0-based), on the server thread.
  ScriptedServer(int connections, std::function<void(Poco::Net::StreamSocket&, int)> script)
      : socket_(Poco::Net::SocketAddress("127.0.0.1", 0)) {
    thread_ = std::thread([this, connections, script = std::move(script)] {
      for (int n = 0; n < connections; ++n) {
        Poco::Net::StreamSocket s = socket_.acceptConnection();
        script(s, n);
      }
    });
  }
  ~ScriptedServer() { thread_.join(); }
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  HttpEndpoint endpoint() const {
    HttpEndpoint e;
    e.host = "127.0.0.1";
    e.port = socket_.address().port();
    return e;
  }

 private:
  Poco::Net::ServerSocket socket_;
  std::thread thread_;
};

// Reads one request head (the tests send no bodies).
std::string ReadRequest(Poco::Net::StreamSocket& s) {
  std::string head;
  char c;
  while (!head.ends_with("\r\n\r\n") && s.receiveBytes(&c, 1) == 1) head += c;
  return head;
}

void Send(Poco::Net::StreamSocket& s, const std::string& data) {
  s.sendBytes(data.data(), static_cast<int>(data.size()));
}

std::string Response(const std::string& body) {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

HttpRequest Get(const std::string& target) {
  HttpRequest r;
  r.target = target;
  return r;
}

TEST(HttpTransportTest, ParsesUrls) {
  HttpEndpoint e;
  std::string target;
  ASSERT_TRUE(ParseHttpUrl("https://oauth2.googleapis.com/token", &e, &target).ok());
  EXPECT_TRUE(e.https);
  EXPECT_EQ(e.host, "oauth2.googleapis.com");
  EXPECT_EQ(e.port, 443);
  EXPECT_EQ(target, "/token");
  EXPECT_EQ(e.ToString(), "https://oauth2.googleapis.com");

  ASSERT_TRUE(ParseHttpUrl("http://127.0.0.1:8080", &e, &target).ok());
  EXPECT_FALSE(e.https);
  EXPECT_EQ(e.port, 8080);
  EXPECT_EQ(target, "/");
  e.base_path = "/prefix";
  EXPECT_EQ(e.ToString(), "http://127.0.0.1:8080/prefix");

  EXPECT_EQ(ParseHttpUrl("gs://bucket/x", &e, &target).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(ParseHttpUrl("http://", &e, &target).code(), Status::Code::kInvalidArgument);
}

TEST(HttpTransportTest, PercentEncodesAllButUnreserved) {
  EXPECT_EQ(PercentEncode("a/b c+d%e?f&g=h~i-j_k.l"), "a%2Fb%20c%2Bd%25e%3Ff%26g%3Dh~i-j_k.l");
  EXPECT_EQ(PercentEncode("\xc3\xa9"), "%C3%A9");
  EXPECT_EQ(PercentEncode(""), "");
  EXPECT_EQ(PercentEncode("a/b c/d", "/"), "a/b%20c/d");
}

TEST(HttpTransportTest, ReopensAKeptAliveConnectionTheServerDropped) {
  ScriptedServer server(2, [](Poco::Net::StreamSocket& s, int n) {
    ReadRequest(s);
    Send(s, Response("answer " + std::to_string(n)));
    // Connection 0 promised keep-alive but is closed, as idle connections are.
  });
  ConnectionPool pool(server.endpoint(), HttpTimeouts{}, nullptr);
  for (const char* want : {"answer 0", "answer 1"}) {
    std::unique_ptr<HttpConnection> c = pool.Acquire();
    ASSERT_TRUE(c->Start(Get("/")).ok()) << want;
    std::string body;
    ASSERT_TRUE(c->ReadAll(100, &body).ok());
    EXPECT_EQ(body, want);
    EXPECT_TRUE(c->Reusable());
    pool.Release(std::move(c));
  }
}

TEST(HttpTransportTest, ReportsABodyCutShort) {
  ScriptedServer server(1, [](Poco::Net::StreamSocket& s, int) {
    ReadRequest(s);
    Send(s, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    s.shutdownSend();
  });
  HttpConnection c(server.endpoint(), HttpTimeouts{}, nullptr);
  ASSERT_TRUE(c.Start(Get("/")).ok());
  std::string body;
  char buf[64];
  size_t got = 0;
  BodyRead r;
  while ((r = c.ReadBody(buf, sizeof buf, 5000, &got)) == BodyRead::kData) body.append(buf, got);
  EXPECT_EQ(body, "abc");
  EXPECT_EQ(r, BodyRead::kBroken);
  EXPECT_TRUE(c.error().transient());
  EXPECT_THAT(c.error().message, HasSubstr("connection closed with 7 body bytes still due"));
  EXPECT_FALSE(c.Reusable());
}

TEST(HttpTransportTest, SilenceIsIdleNotAnError) {
  std::promise<void> go;
  std::shared_future<void> go_signal = go.get_future().share();
  ScriptedServer server(1, [go_signal](Poco::Net::StreamSocket& s, int) {
    ReadRequest(s);
    Send(s, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab");
    go_signal.wait();  // the client has seen the silence
    Send(s, "cd");
  });
  HttpConnection c(server.endpoint(), HttpTimeouts{}, nullptr);
  ASSERT_TRUE(c.Start(Get("/")).ok());
  char buf[16];
  size_t got = 0;
  ASSERT_EQ(c.ReadBody(buf, sizeof buf, 5000, &got), BodyRead::kData);
  EXPECT_EQ(std::string(buf, got), "ab");
  EXPECT_EQ(c.ReadBody(buf, sizeof buf, 50, &got), BodyRead::kIdle);
  EXPECT_EQ(got, 0u);
  go.set_value();
  ASSERT_EQ(c.ReadBody(buf, sizeof buf, 5000, &got), BodyRead::kData);
  EXPECT_EQ(std::string(buf, got), "cd");
  EXPECT_EQ(c.ReadBody(buf, sizeof buf, 5000, &got), BodyRead::kEnd);
  EXPECT_TRUE(c.Reusable());
}

TEST(HttpTransportTest, SmallBodiesBeyondTheLimitAreFlagged) {
  ScriptedServer server(1, [](Poco::Net::StreamSocket& s, int) {
    ReadRequest(s);
    Send(s, Response("0123456789"));
  });
  HttpConnection c(server.endpoint(), HttpTimeouts{}, nullptr);
  ASSERT_TRUE(c.Start(Get("/")).ok());
  std::string body;
  bool too_large = false;
  ASSERT_TRUE(c.ReadAll(4, &body, &too_large).ok());
  EXPECT_TRUE(too_large);
  EXPECT_EQ(body, "0123");
  EXPECT_FALSE(c.Reusable());
}

TEST(HttpTransportTest, RefusedConnectionIsTransient) {
  HttpEndpoint endpoint;
  {
    ScriptedServer closed(0, [](Poco::Net::StreamSocket&, int) {});
    endpoint = closed.endpoint();
  }
  HttpConnection c(endpoint, HttpTimeouts{}, nullptr);
  const TransportError err = c.Start(Get("/"));
  EXPECT_EQ(err.kind, TransportError::Kind::kConnect);
  EXPECT_TRUE(err.transient());
  EXPECT_THAT(err.message, HasSubstr(endpoint.ToString() + ": "));
}

}  // namespace
}  // namespace devserver::storage
