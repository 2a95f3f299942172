#include "fcgi/cluster/peer_fill.h"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "fcgi/storage/crc32c.h"
#include "fcgi/storage/test_http_server.h"
#include "tests/support/temp_dir.h"

namespace devserver {
namespace {

using storage::ObjectInfo;
using storage::TestHttpServer;

class CountingObserver : public storage::FetchObserver {
 public:
  void OnProgress(uint64_t done, uint64_t /*total*/) override { last = done; }
  bool Cancelled() override { return cancel; }
  uint64_t last = 0;
  bool cancel = false;
};

class PeerFillTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 200000; ++i) bytes_ += static_cast<char>(i * 7 + i / 13);
    object_.bucket = "bucket";
    object_.name = "board-release/R1-1.0.0/stateful.tgz";
    object_.size = bytes_.size();
    object_.generation = 77;
    object_.crc32c = storage::Crc32cBase64(storage::Crc32c(bytes_.data(), bytes_.size()));
  }

  // A peer answering every request with `reply(i)`, i = its own request count.
  TestHttpServer* AddPeer(const std::function<TestHttpServer::Reply()>& reply) {
    servers_.push_back(std::make_unique<TestHttpServer>(
        [reply](const TestHttpServer::Request&) { return reply(); }));
    // The peer's public port is the one before its internal listener.
    peers_.push_back({"127.0.0.1", servers_.back()->port() - 1});
    return servers_.back().get();
  }

  Status Fill(const std::string& self = "", CountingObserver* observer = nullptr) {
    PeerFillOptions options;
    options.peers = peers_;
    options.self = self;
    options.stall_timeout_ms = 2000;
    PeerFill fill(options, Env::Default());
    CountingObserver own;
    return fill.Fetch("gs://bucket/board-release/R1-1.0.0", "board-release/R1-1.0.0",
                      "stateful.tgz", object_, dest(), observer != nullptr ? observer : &own);
  }

  std::string dest() const { return dir_.Sub("stateful.tgz"); }
  std::string Dest() const {
    std::ifstream in(dest(), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // The servers in the order the fill asks them (the ring's order for the build).
  std::vector<TestHttpServer*> InRingOrder() const {
    std::vector<TestHttpServer*> order;
    for (const PeerAddress& p : PeerRing(peers_).Order("board-release/R1-1.0.0")) {
      for (const auto& s : servers_) {
        if (s->port() == p.port + 1) order.push_back(s.get());
      }
    }
    return order;
  }

  testing::TempDir dir_;
  std::string bytes_;
  ObjectInfo object_;
  std::vector<std::unique_ptr<TestHttpServer>> servers_;
  std::vector<PeerAddress> peers_;
};

TEST_F(PeerFillTest, AsksInRingOrderAndTakesTheFirstVerifiedCopy) {
  // Three peers; the one the ring puts second holds the object, the others answer 404.
  std::vector<std::atomic<bool>> holds(3);
  for (size_t i = 0; i < 3; ++i) {
    AddPeer([this, &holds, i] {
      if (holds[i]) return TestHttpServer::Reply(200, bytes_, "application/octet-stream");
      return TestHttpServer::Reply(404, "not held\n", "text/plain");
    });
  }
  std::vector<TestHttpServer*> order = InRingOrder();
  ASSERT_EQ(order.size(), 3u);
  for (size_t i = 0; i < 3; ++i) holds[i] = servers_[i].get() == order[1];

  CountingObserver observer;
  ASSERT_TRUE(Fill("", &observer).ok());
  EXPECT_EQ(Dest(), bytes_);
  EXPECT_EQ(observer.last, bytes_.size());
  // The first was asked, then the holder; the third never.
  ASSERT_EQ(order[0]->Requests().size(), 1u);
  EXPECT_EQ(order[0]->Requests()[0].uri,
            "/peer/object?archive_url=gs%3A%2F%2Fbucket%2Fboard-release%2FR1-1.0.0"
            "&object=stateful.tgz&generation=77");
  EXPECT_EQ(order[1]->Requests().size(), 1u);
  EXPECT_EQ(order[2]->Requests().size(), 0u);
}

TEST_F(PeerFillTest, ACorruptOrShortCopyIsRefusedWithTheReason) {
  std::string corrupt = bytes_;
  corrupt[1000] ^= 1;
  AddPeer([corrupt] { return TestHttpServer::Reply(200, corrupt, "application/octet-stream"); });
  Status s = Fill();
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_NE(s.message().find("checksum mismatch"), std::string::npos) << s.message();

  servers_.clear();
  peers_.clear();
  std::string shorter = bytes_.substr(1);
  AddPeer([shorter] { return TestHttpServer::Reply(200, shorter, "application/octet-stream"); });
  s = Fill();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("is not 200000 bytes long"), std::string::npos) << s.message();
}

TEST_F(PeerFillTest, ThisHostIsNeverAskedAndAnObjectWithoutChecksumNeverFilled) {
  TestHttpServer* self = AddPeer([this] { return TestHttpServer::Reply(200, bytes_); });
  EXPECT_EQ(Fill(peers_[0].Public()).code(), Status::Code::kNotFound);
  EXPECT_TRUE(self->Requests().empty());

  object_.crc32c.clear();
  Status s = Fill();
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_NE(s.message().find("no checksum"), std::string::npos) << s.message();
  EXPECT_TRUE(self->Requests().empty());
}

TEST_F(PeerFillTest, AnUnreachablePeerIsSkippedForAWhile) {
  // Nothing listens on the internal port of this peer.
  AddPeer([] { return TestHttpServer::Reply(404, ""); });
  const int dead = servers_[0]->port() - 1;
  servers_.clear();
  peers_ = {{"127.0.0.1", dead}};
  PeerFillOptions options;
  options.peers = peers_;
  PeerFill fill(options, Env::Default());
  CountingObserver observer;
  Status first = fill.Fetch("gs://bucket/b/R1", "b/R1", "stateful.tgz", object_, dest(), &observer);
  EXPECT_EQ(first.code(), Status::Code::kNotFound);
  EXPECT_EQ(first.message().find("unreachable recently"), std::string::npos) << first.message();
  Status again = fill.Fetch("gs://bucket/b/R1", "b/R1", "stateful.tgz", object_, dest(), &observer);
  EXPECT_NE(again.message().find("unreachable recently"), std::string::npos) << again.message();
}

TEST_F(PeerFillTest, ACancelledFillStops) {
  AddPeer([this] { return TestHttpServer::Reply(200, bytes_, "application/octet-stream"); });
  CountingObserver observer;
  observer.cancel = true;
  Status s = Fill("", &observer);
  EXPECT_EQ(s.message(), "cancelled");
}

}  // namespace
}  // namespace devserver
