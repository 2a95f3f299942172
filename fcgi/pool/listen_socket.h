// The sockets the master opens once and every worker shares: the FastCGI listening socket,
// and the datagram socket nginx logs reads under /static/ to.
#pragma once

#include <string>

#include "fcgi/base/status.h"
#include "fcgi/config/config.h"

namespace devserver {

// Opens, binds and listens on `config.socket` (Unix path or host:port), non-blocking.
// A Unix socket is created under a temporary name, given its mode and group, then renamed
// into place, so nginx never sees it with the wrong permissions. A stale socket file left by
// a dead instance is replaced; one that a live process still answers on is an error.
Status OpenListenSocket(const Config& config, int* fd);

// Removes the socket file of a Unix socket (nothing for TCP).
void RemoveListenSocket(const Config& config);

// Binds the Unix datagram socket `config.reads_socket` (same mode, group and stale-file rules
// as the listening socket), non-blocking. *fd is -1 when reads_socket is empty.
Status OpenReadsSocket(const Config& config, int* fd);
void RemoveReadsSocket(const Config& config);

}  // namespace devserver
