#include "fcgi/ctl/nginx_site.h"

#include <filesystem>
#include <iostream>
#include <vector>

#include "fcgi/base/fs.h"
#include "fcgi/ctl/child_process.h"
#include "fcgi/ctl/service_command.h"
#include "fcgi/ctl/template.h"

namespace devserver {
namespace {

constexpr const char* kUsage =
    "usage: devserverctl nginx-site [--config FILE] [--listen ADDR:PORT] [--out FILE]\n"
    "                               [--<config-key>=VALUE ...]\n"
    "\n"
    "Writes devserver's nginx site for the system's nginx from the service's configuration:\n"
    "the server block (staged files from [paths] static_root, the API to [server] socket) and,\n"
    "when [cluster] peers is set, the routing block of cluster mode: the public listener that\n"
    "sends each build's requests to its owner, with the server block moved to the internal\n"
    "listener (the next port). The Debian package installs the single-host site; after\n"
    "setting [cluster] peers (and self) in /etc/devserver/devserver.ini, run\n"
    "  devserverctl nginx-site --out /etc/nginx/sites-available/devserver\n"
    "  systemctl restart devserver && systemctl reload nginx\n"
    "  --listen ADDR:PORT  the public address (default: [cluster] self in cluster mode, else\n"
    "                      8082 on every address)\n"
    "  --out FILE          write FILE (atomically) instead of standard output\n"
    "  --config FILE       the service's configuration (default /etc/devserver/devserver.ini if\n"
    "                      it exists); --<config-key>=VALUE overrides its keys\n";

int Fail(const Status& s) {
  std::cerr << "devserverctl nginx-site: " << s.message() << "\n";
  return 1;
}

// The upstream's server lines: the same text on every host, so every host draws the same ring.
std::string PeerServers(const Config& config) {
  std::string lines;
  for (const PeerAddress& peer : config.cluster_peers) {
    lines += "    server " + peer.Internal() +
             " max_fails=1 fail_timeout=" + std::to_string(config.cluster_fail_timeout_s) + "s;\n";
  }
  return lines;
}

}  // namespace

Status FindClusterSelf(const Config& config, const std::string& listen,
                       std::optional<PeerAddress>* self) {
  self->reset();
  if (config.cluster_peers.empty()) return Status::Ok();
  const std::string name = config.cluster_self.empty() ? listen : config.cluster_self;
  for (const PeerAddress& peer : config.cluster_peers) {
    if (peer.Public() == name) *self = peer;
  }
  if (!*self) {
    return Status::InvalidArgument("cluster mode: this host (" + name +
                                   ") is not among the peers; give every host the same peer "
                                   "list, its own address included, and set [cluster] self "
                                   "(or --listen) to that entry");
  }
  return Status::Ok();
}

std::map<std::string, std::string> NginxSiteVars(const Config& config,
                                                 const NginxSiteOptions& options) {
  const std::string fcgi_pass = config.socket[0] == '/' ? "unix:" + config.socket : config.socket;
  std::map<std::string, std::string> vars = {
      {"LISTEN", options.self ? options.self->Internal() : options.listen},
      {"STATIC_ROOT", config.static_root},
      {"SHARE_DIR", options.share_dir},
      {"FCGI_PASS", fcgi_pass},
      {"FCGI_READ_TIMEOUT", std::to_string(options.fcgi_read_timeout_s) + "s"},
      {"ACCESS_LOG", options.access_log},
      {"ERROR_LOG", options.error_log},
      {"READS_SOCKET", config.reads_socket},
      // Without a reads socket the directive stays in the file, commented out.
      {"READS_OFF", config.reads_socket.empty() ? "# [cache] reads_socket is empty: " : ""},
  };
  if (options.self) {
    vars["INTERNAL_LISTEN"] = options.self->Internal();
    vars["PEER_SERVERS"] = PeerServers(config);
    vars["CONNECT_TIMEOUT"] = "2s";
    vars["RETRY_WINDOW"] = "10s";
    vars["PROXY_READ_TIMEOUT"] = std::to_string(options.fcgi_read_timeout_s + 30) + "s";
  }
  return vars;
}

Status RenderSiteTemplate(const std::string& name, const NginxSiteOptions& options,
                          const std::map<std::string, std::string>& vars, std::string* text) {
  std::map<std::string, std::string> file_vars = vars;
  if (name == "devserver-cluster.conf") file_vars["LISTEN"] = options.listen;  // the public one
  std::string source;
  Status s = ReadFile(options.share_dir + "/nginx/" + name + ".in", &source);
  if (!s.ok()) return s;
  return RenderTemplate(source, file_vars, text);
}

int RunNginxSite(int argc, char** argv) {
  ServiceArgs args;
  Status s = ParseServiceArgs(argc, argv, {}, {"listen", "out"}, &args);
  if (!s.ok()) {
    std::cerr << "devserverctl nginx-site: " << s.message() << "\n"
              << (args.bad_flag ? kUsage : "");
    return 2;
  }
  if (args.help) {
    std::cout << kUsage;
    return 0;
  }
  const Config& config = args.config;
  NginxSiteOptions options;
  options.share_dir =
      std::filesystem::weakly_canonical(SelfExecutableDir() + "/../share/devserver");
  options.access_log = "/var/log/nginx/access.log";
  options.error_log = "/var/log/nginx/error.log";
  options.fcgi_read_timeout_s = config.max_wait_s + kNginxReadTimeoutMargin;
  auto listen = args.options.find("listen");
  if (listen != args.options.end()) {
    options.listen = listen->second;
  } else if (!config.cluster_self.empty()) {
    options.listen = config.cluster_self;
  } else {
    options.listen = "8082";
  }
  s = FindClusterSelf(config, options.listen, &options.self);
  if (!s.ok()) return Fail(s);
  const std::map<std::string, std::string> vars = NginxSiteVars(config, options);
  std::vector<std::string> files = {"devserver-server.conf"};
  if (options.self) files.emplace_back("devserver-cluster.conf");
  std::string site;
  for (const std::string& name : files) {
    std::string text;
    s = RenderSiteTemplate(name, options, vars, &text);
    if (!s.ok()) return Fail(s);
    site += text;
  }
  auto out = args.options.find("out");
  if (out == args.options.end()) {
    std::cout << site;
    return 0;
  }
  s = WriteFileAtomically(out->second, site);
  return s.ok() ? 0 : Fail(s);
}

}  // namespace devserver
