#include "fcgi/cluster/peer_ring.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace devserver {
namespace {

std::vector<PeerAddress> Peers(int n) {
  std::vector<PeerAddress> peers;
  peers.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) peers.push_back({"10.0.0." + std::to_string(i + 1), 8082});
  return peers;
}

std::string Key(int i) { return "board-release/R1-" + std::to_string(i) + ".0.0"; }

TEST(PeerRingTest, OrderNamesEveryPeerOnceAndIsTheSameOnEveryHost) {
  PeerRing ring(Peers(5));
  PeerRing again(Peers(5));
  for (int i = 0; i < 50; ++i) {
    std::vector<PeerAddress> order = ring.Order(Key(i));
    ASSERT_EQ(order.size(), 5u);
    std::set<std::string> names;
    for (const PeerAddress& p : order) names.insert(p.Public());
    EXPECT_EQ(names.size(), 5u);
    std::vector<PeerAddress> other = again.Order(Key(i));
    for (size_t j = 0; j < order.size(); ++j) EXPECT_EQ(order[j].Public(), other[j].Public());
  }
}

TEST(PeerRingTest, KeysSpreadOverThePeers) {
  PeerRing ring(Peers(3));
  std::map<std::string, int> owned;
  for (int i = 0; i < 3000; ++i) ++owned[ring.Order(Key(i)).front().Public()];
  ASSERT_EQ(owned.size(), 3u);
  for (const auto& [peer, n] : owned) EXPECT_GT(n, 500) << peer;  // 1000 each, give or take
}

// Consistent hashing: taking a peer out moves only its own keys, each to the next peer of its
// order, which is why a host filling a moved build asks in this order.
TEST(PeerRingTest, RemovingAPeerMovesOnlyItsKeysToTheNextInOrder) {
  std::vector<PeerAddress> all = Peers(4);
  PeerRing before(all);
  std::vector<PeerAddress> without = all;
  without.erase(without.begin() + 2);
  PeerRing after(without);
  int moved = 0;
  for (int i = 0; i < 2000; ++i) {
    std::vector<PeerAddress> order = before.Order(Key(i));
    const std::string now = after.Order(Key(i)).front().Public();
    if (order[0].Public() == all[2].Public()) {
      ++moved;
      EXPECT_EQ(now, order[1].Public()) << Key(i);
    } else {
      EXPECT_EQ(now, order[0].Public()) << Key(i);
    }
  }
  EXPECT_GT(moved, 0);
}

TEST(PeerRingTest, EmptyRingHasNoOrder) { EXPECT_TRUE(PeerRing({}).Order("a/b").empty()); }

TEST(PeerRingTest, BuildKeyIsTheLastTwoSegments) {
  EXPECT_EQ(BuildKeyOf("x86-alex-release/R19-2003.0.0-a1-b1819"),
            "x86-alex-release/R19-2003.0.0-a1-b1819");
  EXPECT_EQ(BuildKeyOf("trybots/x86-alex-release/R19-1.0.0"), "x86-alex-release/R19-1.0.0");
  EXPECT_EQ(BuildKeyOf("single"), "single");
}

}  // namespace
}  // namespace devserver
