// Questions one cluster host asks all the others at once, for answers about every host's
// builds (/latestbuild): each peer's internal listener gets the same GET, in parallel, and
// whatever has not answered within the time limit is left out rather than waited for.
#pragma once

#include <string>
#include <vector>

#include "fcgi/config/cluster_peers.h"

namespace devserver {

struct PeerAnswer {
  PeerAddress peer;
  int status = 0;     // HTTP status; 0 when there was no answer (see error)
  std::string body;   // at most 64 KiB
  std::string error;  // why there was no answer
};

// GETs `target` ("/latestbuild?...", percent-encoded) from every peer but `self` ("host:port",
// public; "" asks them all). Returns after every peer answered or failed, at most about
// connect_ms + answer_ms later; answers in the order of `peers`.
std::vector<PeerAnswer> AskEveryPeer(const std::vector<PeerAddress>& peers, const std::string& self,
                                     const std::string& target, int connect_ms = 1000,
                                     int answer_ms = 2000);

}  // namespace devserver
