#include "fcgi/config/cluster_peers.h"

#include <gtest/gtest.h>

#include "fcgi/config/config.h"

namespace devserver {
namespace {

TEST(ClusterPeersTest, APeersInternalListenerIsTheNextPort) {
  PeerAddress peer;
  ASSERT_TRUE(ParsePeerAddress("10.0.0.1:8082", &peer).ok());
  EXPECT_EQ(peer.Public(), "10.0.0.1:8082");
  EXPECT_EQ(peer.Internal(), "10.0.0.1:8083");
  ASSERT_TRUE(ParsePeerAddress("devserver-3.lab:80", &peer).ok());
  EXPECT_EQ(peer.Internal(), "devserver-3.lab:81");
}

TEST(ClusterPeersTest, MalformedAddressesAreRefusedWithTheReason) {
  PeerAddress peer;
  for (const char* bad : {"", "10.0.0.1", ":8082", "10.0.0.1:", "10.0.0.1:0", "10.0.0.1:65535",
                          "10.0.0.1:80x", "host name:80", "[::1]:80"}) {
    EXPECT_FALSE(ParsePeerAddress(bad, &peer).ok()) << bad;
  }
  EXPECT_EQ(ParsePeerAddress("10.0.0.1:65535", &peer).message(),
            "'10.0.0.1:65535': the port must be 1-65534 (the next port is the peer's internal "
            "listener)");
}

TEST(ClusterPeersTest, AListKeepsItsOrderAndRefusesAPeerNamedTwice) {
  std::vector<PeerAddress> peers;
  ASSERT_TRUE(ParsePeerList(" 10.0.0.2:8082, 10.0.0.1:8082 ,,", &peers).ok());
  ASSERT_EQ(peers.size(), 2u);
  EXPECT_EQ(peers[0].Public(), "10.0.0.2:8082");
  EXPECT_EQ(peers[1].Public(), "10.0.0.1:8082");
  EXPECT_EQ(ParsePeerList("10.0.0.1:8082,10.0.0.1:8082", &peers).message(),
            "peer 10.0.0.1:8082 is named twice");
}

TEST(ClusterPeersTest, SelfMustBeOneOfThePeers) {
  Config config = DefaultConfig();
  ASSERT_TRUE(ApplyConfigOverride("peers", "10.0.0.1:8082,10.0.0.2:8082", &config).ok());
  ASSERT_TRUE(ApplyConfigOverride("self", "10.0.0.2:8082", &config).ok());
  EXPECT_TRUE(ValidateConfig(config).ok());
  ASSERT_TRUE(ApplyConfigOverride("self", "10.0.0.3:8082", &config).ok());
  EXPECT_EQ(ValidateConfig(config).message(),
            "[cluster] self: 10.0.0.3:8082 is not among [cluster] peers");
}

}  // namespace
}  // namespace devserver
