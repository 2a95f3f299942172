// fakegcs: a stand-in for the GCS JSON API, serving files under --root on 127.0.0.1.
#include <signal.h>

#include <Poco/File.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/ThreadPool.h>

#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>

#include "tests/fakegcs/handler_factory.h"
#include "tests/fakegcs/server_state.h"

namespace {

struct Options {
  std::string root;
  int port = 0;
  int threads = 256;
  uint64_t pace_bps = 0;
  bool verbose = false;
};

void PrintUsage(const char* argv0) {
  std::cerr << "usage: " << argv0
            << " --root DIR [--port P] [--threads N] [--pace-bps B] [--verbose]\n"
            << "  Serves DIR/<bucket>/<object> as a fake GCS JSON API on 127.0.0.1:P\n"
            << "  (P=0 picks a free port). Prints 'listening on 127.0.0.1:<port>' when ready.\n";
}

std::optional<Options> ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--root" && has_value) {
      o.root = argv[++i];
    } else if (arg == "--port" && has_value) {
      o.port = std::atoi(argv[++i]);
    } else if (arg == "--threads" && has_value) {
      o.threads = std::atoi(argv[++i]);
    } else if (arg == "--pace-bps" && has_value) {
      o.pace_bps = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--verbose") {
      o.verbose = true;
    } else {
      return std::nullopt;
    }
  }
  if (o.root.empty() || o.port < 0 || o.port > 65535 || o.threads < 1) return std::nullopt;
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const std::optional<Options> parsed = ParseArgs(argc, argv);
  if (!parsed) {
    PrintUsage(argv[0]);
    return 2;
  }
  const Options& options = *parsed;

  // Blocked before any thread exists so every thread inherits the mask and only sigwait below
  // sees the signals. SIGPIPE is ignored because clients hang up mid-body all the time in tests.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  (void)signal(SIGPIPE, SIG_IGN);

  try {
    Poco::File(options.root).createDirectories();
    devserver::fakegcs::ServerState state(options.root);
    state.verbose = options.verbose;
    state.pace_bps = options.pace_bps;

    Poco::Net::ServerSocket socket(
        Poco::Net::SocketAddress("127.0.0.1", static_cast<Poco::UInt16>(options.port)), 1024);
    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(options.threads);
    params->setMaxQueued(4096);
    params->setKeepAlive(true);
    params->setMaxKeepAliveRequests(0);  // Unlimited: clients may reuse a connection forever.
    params->setKeepAliveTimeout(Poco::Timespan(60, 0));
    params->setTimeout(Poco::Timespan(60, 0));
    Poco::ThreadPool pool(16, options.threads, 60);
    Poco::Net::HTTPServer server(new devserver::fakegcs::HandlerFactory(state), pool, socket,
                                 params);
    server.start();
    std::cout << "listening on 127.0.0.1:" << socket.address().port() << std::endl;

    int sig = 0;
    sigwait(&stop_signals, &sig);
    // Nothing here needs an orderly teardown, and Poco's acceptor takes up to 250 ms to notice a
    // stop; tests start and stop a server per case, so exit at once. The kernel closes every
    // connection, which is what a client of a dying server sees anyway.
    state.stop.Stop();
    std::_Exit(0);
  } catch (const Poco::Exception& e) {
    std::cerr << "fakegcs: " << e.displayText() << std::endl;
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "fakegcs: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
