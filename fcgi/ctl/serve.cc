#include "fcgi/ctl/serve.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "fcgi/base/flags.h"
#include "fcgi/base/fs.h"
#include "fcgi/base/log.h"
#include "fcgi/ctl/child_process.h"
#include "fcgi/ctl/nginx_site.h"
#include "fcgi/ctl/template.h"
#include "fcgi/pool/master.h"

namespace devserver {
namespace {

constexpr const char* kUsage =
    "usage: devserverctl serve [--port P] [--listen ADDR:PORT] [--state-dir DIR] [--config FILE]\n"
    "                          [--archive-dir DIR | --gs-endpoint URL] [--workers N]\n"
    "                          [--nginx PATH] [--pool-bin PATH] [--nginx-read-timeout S]\n"
    "                          [--peer ADDR:PORT ...] [--<config-key>=VALUE ...]\n"
    "\n"
    "Runs nginx on 127.0.0.1:P (default 8080) in front of the devserver-fcgi pool. nginx's\n"
    "configuration, pid, logs and temp files, the FastCGI socket and the static root all live\n"
    "in the state directory (default ./devserver-data). Without --gs-endpoint, builds are\n"
    "read from the local archive directory (default <state-dir>/archive) instead of GCS.\n"
    "nginx's fastcgi_read_timeout is --nginx-read-timeout seconds (default: [timeouts]\n"
    "max_wait + 60); it must be longer than max_wait, so that a caller waiting for a slow\n"
    "staging always gets devserver's own answer (503 'still staging'), never nginx's 504.\n"
    "--peer ADDR:PORT, repeated, runs in cluster mode ([cluster] peers): give every instance\n"
    "the same full list of public addresses, its own --listen address included; each build\n"
    "is then served by the one instance that owns it. An instance's internal listener, which\n"
    "its peers send it requests on, is the port after its own.\n"
    "Other --<key>=VALUE flags are configuration keys passed to the pool.\n";

struct ServeOptions {
  int port = 8080;
  std::string listen;
  std::string state_dir = "devserver-data";
  std::string archive_dir;
  std::string gs_endpoint;
  std::string nginx;
  std::string pool_bin;
  int nginx_read_timeout_s = 0;    // 0: [timeouts] max_wait + kNginxReadTimeoutMargin
  std::vector<std::string> peers;  // --peer, in the order given
  MasterOptions pool;  // config file and key overrides, exactly as the pool will see them
};

int Fail(const std::string& message) {
  std::cerr << "devserverctl serve: " << message << "\n";
  return 2;
}

std::string Absolute(const std::string& path) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf) != nullptr) return buf;
  return path;
}

bool CanConnectUnix(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

bool CanConnectTcp(const std::string& host_port) {
  size_t colon = host_port.rfind(':');
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::atoi(host_port.c_str() + colon + 1)));
  std::string host = host_port.substr(0, colon);
  if (host == "0.0.0.0" || host.empty()) host = "127.0.0.1";
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) return false;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

// Polls `ready` until it holds, `*child` exits, or 20 s pass. A child that exited has been
// reaped: *child becomes -1, so nobody waits for (or signals) its pid again.
Status WaitUntilReady(const std::string& what, pid_t* child, const std::function<bool()>& ready) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (ready()) return Status::Ok();
    int status = 0;
    if (waitpid(*child, &status, WNOHANG) == *child) {
      *child = -1;
      return Status::Failed(what + " exited during start-up (see its messages above)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Status::Failed(what + " did not become ready within 20 s");
}

Status ParseArgs(int argc, char** argv, ServeOptions* options) {
  for (int i = 1; i < argc; ++i) {
    std::string name, value;
    Status flag = ReadFlag(argc, argv, &i, &name, &value);
    if (!flag.ok()) return flag;
    if (name == "port") {
      options->port = std::atoi(value.c_str());
      if (options->port <= 0 || options->port > 65535) {
        return Status::InvalidArgument("--port: '" + value + "' is not a port number");
      }
    } else if (name == "listen") {
      options->listen = value;
    } else if (name == "state-dir") {
      options->state_dir = value;
    } else if (name == "config") {
      options->pool.config_path = Absolute(value);
    } else if (name == "archive-dir") {
      options->archive_dir = value;
    } else if (name == "gs-endpoint") {
      options->gs_endpoint = value;
    } else if (name == "nginx") {
      options->nginx = value;
    } else if (name == "peer") {
      options->peers.push_back(value);
    } else if (name == "pool-bin") {
      options->pool_bin = value;
    } else if (name == "nginx-read-timeout") {
      options->nginx_read_timeout_s = std::atoi(value.c_str());
      if (options->nginx_read_timeout_s <= 0) {
        return Status::InvalidArgument("--nginx-read-timeout: '" + value +
                                       "' is not a positive number of seconds");
      }
    } else {
      options->pool.overrides.emplace_back(name, value);  // a config key, checked below
    }
  }
  if (options->listen.empty()) options->listen = "127.0.0.1:" + std::to_string(options->port);
  if (!options->peers.empty()) {
    std::string list;
    for (const std::string& peer : options->peers) list += (list.empty() ? "" : ",") + peer;
    options->pool.overrides.emplace_back("peers", list);
  }
  return Status::Ok();
}

class Launcher {
 public:
  explicit Launcher(ServeOptions options) : options_(std::move(options)) {}
  int Run();

 private:
  Status Prepare();
  // Cluster mode: this instance's entry in [cluster] peers.
  Status FindSelf();
  Status RenderNginxConfig();
  void StopChildren();

  ServeOptions options_;
  Config config_;
  std::string state_dir_;
  std::string nginx_dir_;
  std::string share_dir_;
  pid_t pool_pid_ = -1;
  pid_t nginx_pid_ = -1;
  std::optional<PeerAddress> self_;  // set in cluster mode
};

Status Launcher::Prepare() {
  Status s = MakeDirectories(options_.state_dir, 0755);
  if (!s.ok()) return s;
  state_dir_ = Absolute(options_.state_dir);
  nginx_dir_ = state_dir_ + "/nginx";
  for (const std::string& dir :
       {state_dir_ + "/static", state_dir_ + "/run", nginx_dir_ + "/tmp"}) {
    s = MakeDirectories(dir, 0755);
    if (!s.ok()) return s;
  }
  std::string exe_dir = SelfExecutableDir();
  share_dir_ = Absolute(exe_dir + "/../share/devserver");
  if (options_.pool_bin.empty()) options_.pool_bin = exe_dir + "/devserver-fcgi";
  if (options_.nginx.empty()) options_.nginx = FindProgram("nginx");
  if (options_.nginx.empty()) {
    return Status::Failed("nginx not found in PATH (apt-get install nginx-light), or pass --nginx");
  }

  // The launcher's values come first, so the user's own flags still override them.
  auto& overrides = options_.pool.overrides;
  std::vector<std::pair<std::string, std::string>> mine = {
      {"socket", state_dir_ + "/run/fcgi.sock"},
      {"reads-socket", state_dir_ + "/run/static-reads.sock"},
      {"static-root", state_dir_ + "/static"},
      {"state-dir", state_dir_},
      {"plugin-dir", Absolute(exe_dir + "/../lib/devserver/plugins")},
      {"stackwalk", Absolute(exe_dir + "/../lib/devserver/minidump_stackwalk")},
      {"stackwalk-sandbox", Absolute(exe_dir + "/../lib/devserver/devserver-sandbox")},
  };
  if (!options_.gs_endpoint.empty()) {
    mine.emplace_back("gs-endpoint", options_.gs_endpoint);
  } else {
    std::string archive =
        options_.archive_dir.empty() ? state_dir_ + "/archive" : options_.archive_dir;
    s = MakeDirectories(archive, 0755);
    if (!s.ok()) return s;
    mine.emplace_back("archive-dir", Absolute(archive));
  }
  overrides.insert(overrides.begin(), mine.begin(), mine.end());
  // Validate here, once, so a bad key stops serve before anything starts.
  s = LoadMasterConfig(options_.pool, &config_);
  if (!s.ok()) return s;
  // A waiting request answers after at most max_wait (503 "still staging, ask again"); nginx
  // must wait longer than that for the answer, or callers of a slow staging get its 504
  // instead. max_wait counts from nginx's hand-off (DEVSERVER_START in devserver-fastcgi.conf),
  // queueing for a free request thread included; the margin is for producing the answer.
  if (options_.nginx_read_timeout_s == 0) {
    options_.nginx_read_timeout_s = config_.max_wait_s + kNginxReadTimeoutMargin;
  } else if (options_.nginx_read_timeout_s <= config_.max_wait_s) {
    return Status::InvalidArgument(
        "--nginx-read-timeout (" + std::to_string(options_.nginx_read_timeout_s) +
        " s) must be longer than [timeouts] max_wait (" + std::to_string(config_.max_wait_s) +
        " s), or callers waiting for a slow staging get nginx's 504");
  }
  return FindSelf();
}

Status Launcher::FindSelf() {
  Status s = FindClusterSelf(config_, options_.listen, &self_);
  if (!s.ok()) return s;
  // The pool does not know the listen address: it learns which peer it is (and never asks
  // itself for a build's objects).
  if (self_ && config_.cluster_self.empty()) {
    options_.pool.overrides.emplace_back("self", self_->Public());
  }
  return Status::Ok();
}

Status Launcher::RenderNginxConfig() {
  NginxSiteOptions site;
  site.listen = options_.listen;
  site.self = self_;
  site.share_dir = share_dir_;
  site.access_log = nginx_dir_ + "/access.log";
  site.error_log = "stderr";
  site.fcgi_read_timeout_s = options_.nginx_read_timeout_s;
  std::map<std::string, std::string> vars = NginxSiteVars(config_, site);
  // serve's own nginx.conf (serve.conf.in) around the site.
  vars["NGINX_DIR"] = nginx_dir_;
  vars["NGINX_WORKERS"] = "auto";
  // As root, nginx would switch its workers to "nobody", who cannot enter a private state
  // directory; a development launcher keeps them as the invoking user.
  vars["USER_LINE"] = geteuid() == 0 ? "user root root;" : "# runs as the invoking user";
  vars["CLUSTER_INCLUDE"] = self_ ? "include " + nginx_dir_ + "/devserver-cluster.conf;"
                                  : "# one host alone: no cluster routing";
  std::vector<std::string> files = {"devserver-server.conf"};
  if (self_) files.emplace_back("devserver-cluster.conf");
  for (const std::string& name : files) {
    std::string rendered;
    Status s = RenderSiteTemplate(name, site, vars, &rendered);
    if (s.ok()) s = WriteFileAtomically(nginx_dir_ + "/" + name, rendered);
    if (!s.ok()) return s;
  }
  std::string text, rendered;
  Status s = ReadFile(share_dir_ + "/nginx/serve.conf.in", &text);
  if (s.ok()) s = RenderTemplate(text, vars, &rendered);
  if (s.ok()) s = WriteFileAtomically(nginx_dir_ + "/nginx.conf", rendered);
  return s;
}

void Launcher::StopChildren() {
  // nginx: SIGQUIT finishes the requests it is serving; the pool drains on SIGTERM.
  if (nginx_pid_ > 0) kill(nginx_pid_, SIGQUIT);
  if (pool_pid_ > 0) kill(pool_pid_, SIGTERM);
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(config_.drain_timeout_s + 10);
  while ((nginx_pid_ > 0 || pool_pid_ > 0) && std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid == nginx_pid_) nginx_pid_ = -1;
    if (pid == pool_pid_) pool_pid_ = -1;
    if (pid <= 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (pid_t pid : {nginx_pid_, pool_pid_}) {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
}

int Launcher::Run() {
  SetLogTag("serve");
  Status s = Prepare();
  if (s.ok()) s = RenderNginxConfig();
  if (!s.ok()) return Fail(s.message());

  sigset_t handled;
  sigemptyset(&handled);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&handled, sig);
  pthread_sigmask(SIG_BLOCK, &handled, nullptr);
  int signal_fd = signalfd(-1, &handled, SFD_CLOEXEC);

  std::vector<std::string> pool_argv = {options_.pool_bin};
  if (!options_.pool.config_path.empty()) {
    pool_argv.push_back("--config=" + options_.pool.config_path);
  }
  for (const auto& [name, value] : options_.pool.overrides) {
    pool_argv.push_back("--" + name + "=" + value);
  }
  s = StartChild(pool_argv, &pool_pid_);
  if (s.ok()) {
    s = WriteFileAtomically(state_dir_ + "/run/devserver-fcgi.pid",
                            std::to_string(pool_pid_) + "\n");
  }
  if (s.ok()) {
    s = WaitUntilReady("devserver-fcgi", &pool_pid_, [&] {
      return config_.socket[0] == '/' ? CanConnectUnix(config_.socket)
                                      : CanConnectTcp(config_.socket);
    });
  }
  if (s.ok()) {
    s = StartChild(
        {options_.nginx, "-p", nginx_dir_ + "/", "-c", nginx_dir_ + "/nginx.conf", "-e", "stderr"},
        &nginx_pid_);
  }
  if (s.ok()) {
    s = WaitUntilReady("nginx", &nginx_pid_, [&] { return CanConnectTcp(options_.listen); });
  }
  if (!s.ok()) {
    StopChildren();
    return Fail(s.message());
  }
  std::cout << "devserver: serving on http://" << options_.listen << "/ (state in " << state_dir_
            << ")" << std::endl;

  int exit_code = 0;
  for (;;) {
    signalfd_siginfo info{};
    if (read(signal_fd, &info, sizeof info) != sizeof info) continue;
    if (info.ssi_signo == SIGHUP) {
      kill(nginx_pid_, SIGHUP);
      kill(pool_pid_, SIGHUP);
      continue;
    }
    if (info.ssi_signo == SIGCHLD) {
      int status = 0;
      pid_t pid;
      bool lost = false;
      while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == nginx_pid_ || pid == pool_pid_) {
          std::cerr << "devserverctl serve: " << (pid == nginx_pid_ ? "nginx" : "devserver-fcgi")
                    << " exited unexpectedly; stopping\n";
          if (pid == nginx_pid_) nginx_pid_ = -1;
          if (pid == pool_pid_) pool_pid_ = -1;
          lost = true;
        }
      }
      if (!lost) continue;
      exit_code = 1;
    }
    break;  // SIGTERM, SIGINT, or a child gone
  }
  StopChildren();
  unlink((state_dir_ + "/run/devserver-fcgi.pid").c_str());
  return exit_code;
}

}  // namespace

int RunServe(int argc, char** argv) {
  ServeOptions options;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
      std::cout << kUsage;
      return 0;
    }
  }
  Status s = ParseArgs(argc, argv, &options);
  if (!s.ok()) return Fail(s.message() + "\n" + kUsage);
  Launcher launcher(std::move(options));
  return launcher.Run();
}

}  // namespace devserver
