#include "fcgi/api/omaha_clients.h"

#include <arpa/inet.h>

namespace devserver {
namespace {

constexpr const char* kMappedPrefix = "::ffff:";

}  // namespace

std::string ClientIp(const std::string& remote_addr) {
  const std::string prefix = kMappedPrefix;
  if (remote_addr.size() > prefix.size() && remote_addr.compare(0, prefix.size(), prefix) == 0) {
    in_addr v4{};
    std::string rest = remote_addr.substr(prefix.size());
    if (inet_pton(AF_INET, rest.c_str(), &v4) == 1) return rest;
  }
  return remote_addr;
}

Status ParseClientIp(const std::string& raw, std::string* ip) {
  in_addr v4{};
  in6_addr v6{};
  if (raw.empty() || raw.size() > INET6_ADDRSTRLEN ||
      (inet_pton(AF_INET, raw.c_str(), &v4) != 1 && inet_pton(AF_INET6, raw.c_str(), &v6) != 1)) {
    return Status::InvalidArgument("ip must be an IPv4 or IPv6 address");
  }
  *ip = ClientIp(raw);
  return Status::Ok();
}

}  // namespace devserver
