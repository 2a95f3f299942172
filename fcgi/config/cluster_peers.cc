#include "fcgi/config/cluster_peers.h"

#include <cstdlib>
#include <set>
#include <sstream>

namespace devserver {

Status ParsePeerAddress(const std::string& text, PeerAddress* peer) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    return Status::InvalidArgument("'" + text + "' is not host:port");
  }
  const std::string host = text.substr(0, colon);
  for (char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.';
    if (!ok) return Status::InvalidArgument("'" + text + "': '" + host + "' is not a host name");
  }
  const std::string port_text = text.substr(colon + 1);
  char* end = nullptr;
  const long port = std::strtol(port_text.c_str(), &end, 10);
  if (*end != '\0' || port < 1 || port > 65534) {
    return Status::InvalidArgument("'" + text + "': the port must be 1-65534 (the next port is " +
                                   "the peer's internal listener)");
  }
  *peer = {host, static_cast<int>(port)};
  return Status::Ok();
}

Status ParsePeerList(const std::string& text, std::vector<PeerAddress>* peers) {
  peers->clear();
  std::set<std::string> seen;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    const size_t b = item.find_first_not_of(' ');
    if (b == std::string::npos) continue;
    item = item.substr(b, item.find_last_not_of(' ') - b + 1);
    PeerAddress peer;
    Status s = ParsePeerAddress(item, &peer);
    if (!s.ok()) return s;
    if (!seen.insert(peer.Public()).second) {
      return Status::InvalidArgument("peer " + peer.Public() + " is named twice");
    }
    peers->push_back(peer);
  }
  return Status::Ok();
}

}  // namespace devserver
