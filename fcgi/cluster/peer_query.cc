#include "fcgi/cluster/peer_query.h"

#include <thread>

#include "fcgi/storage/http_transport.h"

namespace devserver {
namespace {

constexpr size_t kMaxAnswerBytes = 64 << 10;

void Ask(const std::string& target, int connect_ms, int answer_ms, PeerAnswer* answer) {
  storage::HttpEndpoint endpoint;
  endpoint.host = answer->peer.host;
  endpoint.port = static_cast<uint16_t>(answer->peer.port + 1);  // its internal listener
  storage::HttpTimeouts timeouts;
  timeouts.connect_ms = connect_ms;
  timeouts.receive_ms = answer_ms;
  storage::HttpConnection connection(endpoint, timeouts, nullptr, "devserver_peer");
  storage::HttpRequest request;
  request.target = target;
  storage::TransportError err = connection.Start(request);
  if (err.ok()) err = connection.ReadAll(kMaxAnswerBytes, &answer->body);
  if (!err.ok()) {
    answer->error = err.message;
    return;
  }
  answer->status = static_cast<int>(connection.response().getStatus());
}

}  // namespace

std::vector<PeerAnswer> AskEveryPeer(const std::vector<PeerAddress>& peers, const std::string& self,
                                     const std::string& target, int connect_ms, int answer_ms) {
  std::vector<PeerAnswer> answers;
  for (const PeerAddress& peer : peers) {
    if (peer.Public() != self) answers.push_back({peer, 0, "", ""});
  }
  std::vector<std::thread> askers;
  askers.reserve(answers.size());
  for (PeerAnswer& answer : answers) {
    askers.emplace_back(Ask, target, connect_ms, answer_ms, &answer);
  }
  for (std::thread& t : askers) t.join();
  return answers;
}

}  // namespace devserver
