#include "fcgi/cache/read_recorder.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>
#include <set>
#include <thread>

namespace devserver {
namespace {

const std::string kRoot = "/var/lib/devserver/static";

std::string Datagram(const std::string& message) {
  return "<190>Dec  6 01:17:35 devserver: " + message;
}

TEST(ParseStaticReadTest, FilesServedUnderTheRootAreRelativePaths) {
  std::string path;
  ASSERT_TRUE(ParseStaticRead(Datagram("200 " + kRoot + "/x86-alex-release/R19-2003.0.0/update.gz"),
                              kRoot, &path));
  EXPECT_EQ(path, "x86-alex-release/R19-2003.0.0/update.gz");
  ASSERT_TRUE(ParseStaticRead(Datagram("206 " + kRoot + "/b/R1/au/x.bin\n"), kRoot, &path));
  EXPECT_EQ(path, "b/R1/au/x.bin");  // a Range request reads too
  ASSERT_TRUE(ParseStaticRead(Datagram("304 " + kRoot + "/b/R1/f"), kRoot, &path));
  // nginx escapes '"', '\' and bytes outside printable ASCII as \xHH.
  ASSERT_TRUE(ParseStaticRead(Datagram("200 " + kRoot + "/b/R1/a\\x22b\\xC3\\xA9"), kRoot, &path));
  EXPECT_EQ(path, "b/R1/a\"b\xC3\xA9");
}

TEST(ParseStaticReadTest, AnythingElseIsNotARead) {
  std::string path = "untouched";
  const std::vector<std::string> others = {
      Datagram("404 " + kRoot + "/b/R1/missing"),  // nothing was read
      Datagram("403 " + kRoot + "/b/R1/f"),
      Datagram("200 /etc/passwd"),                  // outside the root
      Datagram("200 " + kRoot + "-other/b/R1/f"),   // a sibling with the root as prefix
      Datagram("200 " + kRoot + "/"),               // the root itself
      Datagram("200"),                              // no file
      Datagram("200 " + kRoot + "/b/R1/bad\\x4"),   // a cut escape
      Datagram("200 " + kRoot + "/b/R1/bad\\q41"),  // not an escape nginx writes
      "<190>Dec  6 01:17:35 othertag: 200 " + kRoot + "/b/R1/f",
      "",
  };
  for (const std::string& d : others) {
    EXPECT_FALSE(ParseStaticRead(d, kRoot, &path)) << d;
  }
  EXPECT_EQ(path, "untouched");
}

TEST(ReadRecorderTest, BatchesTheDistinctFilesReadAndFlushesOnStop) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, fds), 0);
  std::mutex mu;
  std::vector<std::vector<std::string>> batches;
  {
    ReadRecorder recorder(
        fds[0], kRoot,
        [&](const std::vector<std::string>& paths) {
          std::lock_guard<std::mutex> lock(mu);
          batches.push_back(paths);
          return Status::Ok();
        },
        std::chrono::hours(1));  // only Stop() flushes
    for (const std::string& m :
         {"200 " + kRoot + "/b/R1/update.gz", "206 " + kRoot + "/b/R1/update.gz",
          "404 " + kRoot + "/b/R2/nothing", "200 " + kRoot + "/b/R3/stateful.tgz"}) {
      const std::string d = Datagram(m);
      ASSERT_EQ(send(fds[1], d.data(), d.size(), 0), static_cast<ssize_t>(d.size()));
    }
    // The datagrams are taken off the socket before Stop().
    char probe;
    for (int i = 0; i < 500 && recv(fds[0], &probe, 1, MSG_PEEK | MSG_DONTWAIT) > 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    recorder.Stop();
  }
  close(fds[0]);
  close(fds[1]);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0], (std::vector<std::string>{"b/R1/update.gz", "b/R3/stateful.tgz"}));
}

}  // namespace
}  // namespace devserver
