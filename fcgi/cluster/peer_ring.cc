#include "fcgi/cluster/peer_ring.h"

#include <Poco/Checksum.h>

#include <algorithm>

namespace devserver {
namespace {

constexpr int kPointsPerPeer = 160;  // nginx's, for weight 1

uint32_t Crc32(const std::string& bytes) {
  Poco::Checksum crc(Poco::Checksum::TYPE_CRC32);
  crc.update(bytes.data(), static_cast<unsigned>(bytes.size()));
  return crc.checksum();
}

}  // namespace

PeerRing::PeerRing(std::vector<PeerAddress> peers) : peers_(std::move(peers)) {
  points_.reserve(peers_.size() * kPointsPerPeer);
  for (size_t i = 0; i < peers_.size(); ++i) {
    const std::string base = peers_[i].host + std::string(1, '\0') +
                             std::to_string(peers_[i].port + 1);  // the internal listener
    uint32_t previous = 0;
    for (int j = 0; j < kPointsPerPeer; ++j) {
      std::string input = base;
      for (int b = 0; b < 4; ++b) input += static_cast<char>((previous >> (8 * b)) & 0xff);
      previous = Crc32(input);
      points_.push_back({previous, i});
    }
  }
  std::stable_sort(points_.begin(), points_.end(),
                   [](const Point& a, const Point& b) { return a.hash < b.hash; });
  points_.erase(std::unique(points_.begin(), points_.end(),
                            [](const Point& a, const Point& b) { return a.hash == b.hash; }),
                points_.end());
}

std::vector<PeerAddress> PeerRing::Order(const std::string& key) const {
  std::vector<PeerAddress> order;
  if (points_.empty()) return order;
  const uint32_t hash = Crc32(key);
  const auto first = std::lower_bound(points_.begin(), points_.end(), hash,
                                      [](const Point& p, uint32_t h) { return p.hash < h; });
  size_t at = static_cast<size_t>(first - points_.begin());
  std::vector<bool> seen(peers_.size(), false);
  for (size_t walked = 0; walked < points_.size() && order.size() < peers_.size(); ++walked) {
    const size_t peer = points_[(at + walked) % points_.size()].peer;
    if (seen[peer]) continue;
    seen[peer] = true;
    order.push_back(peers_[peer]);
  }
  return order;
}

std::string BuildKeyOf(const std::string& object_prefix) {
  const size_t last = object_prefix.rfind('/');
  if (last == std::string::npos || last == 0) return object_prefix;
  const size_t before = object_prefix.rfind('/', last - 1);
  return before == std::string::npos ? object_prefix : object_prefix.substr(before + 1);
}

}  // namespace devserver
