// Many clients at once, each doing the same GETs in order, with the wall-clock moment each
// one finished: what bench/run needs to measure coalescing (64 callers of /download on one
// cold build) and the cold-start race against a pull-through cache (64 clients wanting one
// big file).
//
//   devserver-fanout --port P --clients N --get PATH [--get PATH ...]
//
// Every client opens one HTTP/1.0 connection per GET, reads the whole response and drops the
// body. Prints one line of key=value pairs:
//   clients=64 ok=64 failed=0 first_done_us=... last_done_us=... body_bytes=...
// where *_done_us are CLOCK_REALTIME microseconds (comparable with log timestamps) of the
// first and last client to finish all its GETs, ok counts clients whose every GET was a 200,
// and body_bytes is the sum of the last GET's body sizes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Outcome {
  bool ok = true;
  int64_t done_us = 0;
  int64_t last_body_bytes = 0;
};

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One GET; the status code, or 0 when the exchange failed. Counts the body's bytes.
int Get(int port, const std::string& path, int64_t* body_bytes) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int status = 0;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      std::string head;
      std::vector<char> buf(1 << 20);
      int64_t total = 0;
      size_t header_end = std::string::npos;
      for (;;) {
        const ssize_t n = read(fd, buf.data(), buf.size());
        if (n <= 0) break;
        total += n;
        if (header_end == std::string::npos) {
          head.append(buf.data(), static_cast<size_t>(n));
          header_end = head.find("\r\n\r\n");
          if (header_end != std::string::npos) {
            status = std::atoi(head.c_str() + head.find(' ') + 1);
            total = static_cast<int64_t>(head.size() - header_end - 4);
          }
        }
      }
      *body_bytes = header_end == std::string::npos ? 0 : total;
    }
  }
  close(fd);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  int clients = 0;
  std::vector<std::string> paths;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--port") port = std::atoi(argv[i + 1]);
    if (flag == "--clients") clients = std::atoi(argv[i + 1]);
    if (flag == "--get") paths.emplace_back(argv[i + 1]);
  }
  if (port <= 0 || clients <= 0 || paths.empty()) {
    (void)std::fprintf(stderr, "usage: %s --port P --clients N --get PATH [--get PATH ...]\n",
                       argv[0]);
    return 2;
  }
  std::vector<Outcome> outcomes(static_cast<size_t>(clients));
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  threads.reserve(outcomes.size());
  for (Outcome& outcome : outcomes) {
    threads.emplace_back([&, out = &outcome] {
      // Start together, so the first request does not get a head start of thread creation.
      ready.fetch_add(1);
      while (ready.load() < clients) std::this_thread::yield();
      for (const std::string& path : paths) {
        int64_t bytes = 0;
        if (Get(port, path, &bytes) != 200) out->ok = false;
        out->last_body_bytes = bytes;
      }
      out->done_us = NowMicros();
    });
  }
  for (std::thread& t : threads) t.join();
  int ok = 0;
  int64_t first = INT64_MAX;
  int64_t last = 0;
  int64_t bytes = 0;
  for (const Outcome& o : outcomes) {
    ok += o.ok ? 1 : 0;
    first = std::min(first, o.done_us);
    last = std::max(last, o.done_us);
    bytes += o.last_body_bytes;
  }
  std::printf("clients=%d ok=%d failed=%d first_done_us=%lld last_done_us=%lld body_bytes=%lld\n",
              clients, ok, clients - ok, static_cast<long long>(first),
              static_cast<long long>(last), static_cast<long long>(bytes));
  return ok == clients ? 0 : 1;
}
