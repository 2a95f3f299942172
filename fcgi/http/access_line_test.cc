#include "fcgi/http/access_line.h"

#include <gtest/gtest.h>

namespace devserver {
namespace {

TEST(AccessLineTest, SaysWhoAskedWhatAndHowItWent) {
  Request req;
  req.remote_addr = "10.0.0.7";
  req.method = "GET";
  req.path = "/is_staged";
  req.raw_query = "archive_url=gs%3A%2F%2Fb%2Fx&artifacts=full_payload";
  Response resp = Response::Text("True");
  EXPECT_EQ(AccessLine(req, resp, std::chrono::microseconds(1250)),
            "access 10.0.0.7 GET /is_staged?archive_url=gs%3A%2F%2Fb%2Fx&artifacts=full_payload "
            "200 4 B 1.2 ms");
}

TEST(AccessLineTest, NoRequestCanSplitOrForgeALine) {
  Request req;
  req.method = "POST";
  req.path = "/update/a b\n2026-12-06 E worker[1]: staging failed: \\";
  Response resp;
  resp.status = 400;
  const std::string line = AccessLine(req, resp, std::chrono::milliseconds(3));
  EXPECT_EQ(line,
            "access - POST /update/a\\x20b\\x0a2026-12-06\\x20E\\x20worker[1]:\\x20staging\\x20"
            "failed:\\x20\\x5c 400 0 B 3.0 ms");
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace devserver
