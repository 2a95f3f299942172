// The peers of cluster mode: hosts that act as one cache, each build owned by one of them.
//
// Every peer is named by its public address (host:port, where clients reach it); its
// internal listener, where peers send one another the requests of the builds it owns, is the
// next port on the same host. Deriving it rather than configuring it keeps the one list the
// only thing every host must agree on.
#pragma once

#include <string>
#include <vector>

#include "fcgi/base/status.h"

namespace devserver {

struct PeerAddress {
  std::string host;  // an IPv4 address or a host name
  int port = 0;      // public

  std::string Public() const { return host + ":" + std::to_string(port); }
  std::string Internal() const { return host + ":" + std::to_string(port + 1); }
};

// "10.0.0.1:8082" -> {10.0.0.1, 8082}. The port leaves room for the internal one after it.
Status ParsePeerAddress(const std::string& text, PeerAddress* peer);

// A comma-separated list of peers, blanks around items ignored; a peer named twice is an error.
Status ParsePeerList(const std::string& text, std::vector<PeerAddress>* peers);

}  // namespace devserver
