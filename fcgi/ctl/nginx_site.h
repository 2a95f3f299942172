// devserver's nginx site rendered from the service's configuration: the server block
// (nginx/devserver-server.conf.in) and, in cluster mode, the routing block
// (nginx/devserver-cluster.conf.in). `devserverctl serve` renders it for its private nginx;
// `devserverctl nginx-site` renders it for the system's nginx, so an installed host can be
// put in a cluster by editing /etc/devserver/devserver.ini alone.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "fcgi/base/status.h"
#include "fcgi/config/config.h"

namespace devserver {

// Default gap between [timeouts] max_wait and nginx's fastcgi_read_timeout, so the pool's own
// "still staging, ask again" always reaches callers before nginx gives up (the Debian
// package's site file uses the same: packaging/CMakeLists.txt).
inline constexpr int kNginxReadTimeoutMargin = 60;

struct NginxSiteOptions {
  std::string listen;               // the public address: "8082", "10.0.0.1:8082"
  std::optional<PeerAddress> self;  // cluster mode: this host's entry in [cluster] peers
  std::string share_dir;            // holds nginx/ with the templates and their includes
  std::string access_log;           // a path, or "off"
  std::string error_log;            // a path, or "stderr"
  int fcgi_read_timeout_s = 0;      // longer than [timeouts] max_wait
};

// Cluster mode: this host's entry in [cluster] peers: [cluster] self, else `listen`. Nothing
// when there are no peers; InvalidArgument when the host is not among them.
Status FindClusterSelf(const Config& config, const std::string& listen,
                       std::optional<PeerAddress>* self);

// The values of the templates' placeholders. In cluster mode the server block listens on the
// internal address and the routing block (LISTEN swapped back, see RenderSiteTemplate) on
// the public one.
std::map<std::string, std::string> NginxSiteVars(const Config& config,
                                                 const NginxSiteOptions& options);

// Renders <share_dir>/nginx/<name>.in for `name` "devserver-server.conf" or
// "devserver-cluster.conf".
Status RenderSiteTemplate(const std::string& name, const NginxSiteOptions& options,
                          const std::map<std::string, std::string>& vars, std::string* text);

// The `nginx-site` command; argv[0] is "nginx-site". Returns the process exit code.
int RunNginxSite(int argc, char** argv);

}  // namespace devserver
