// How the Omaha endpoints name an update client.
#pragma once

#include <string>

#include "fcgi/base/status.h"

namespace devserver {

// The client's key: its address as nginx saw it, an IPv4-mapped IPv6 address as the IPv4 one
// ("::ffff:10.0.0.5" is "10.0.0.5").
std::string ClientIp(const std::string& remote_addr);

// An address given by a caller (ip=): InvalidArgument unless it is an IPv4 or IPv6 literal.
// Sets *ip to its key.
Status ParseClientIp(const std::string& raw, std::string* ip);

}  // namespace devserver
