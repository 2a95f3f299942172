// The access line the pool logs for each API request (the journal under systemd): who asked
// what, the answer's status and size, and how long it took.
#pragma once

#include <chrono>
#include <string>

#include "fcgi/http/request.h"
#include "fcgi/http/response.h"

namespace devserver {

// "access <client> <method> <path>[?<query>] <status> <body bytes> B <ms> ms". Bytes a client
// chose that are not visible ASCII (a decoded %0A in the path, say) are written as \xNN, so
// that no request can forge or split a log line.
std::string AccessLine(const Request& request, const Response& response,
                       std::chrono::steady_clock::duration elapsed);

}  // namespace devserver
