// A worker whose master died before the kernel was told to tell it (between fork() and
// PR_SET_PDEATHSIG) exits at once instead of serving with nobody to supervise it.
#include "fcgi/pool/worker.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

namespace devserver {
namespace {

TEST(WorkerTest, ExitsWhenItsMasterIsAlreadyGone) {
  int log[2];
  ASSERT_EQ(pipe(log), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    dup2(log[1], STDERR_FILENO);  // the worker's log, for the parent to read
    ServiceInfo service;
    // Not this process's parent: as if the master had died and the worker been reparented.
    service.master_pid = getppid() + 1;
    _exit(RunWorker(service, -1));
  }
  close(log[1]);
  std::string text;
  char buf[512];
  for (ssize_t n; (n = read(log[0], buf, sizeof buf)) > 0;)
    text.append(buf, static_cast<size_t>(n));
  close(log[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_NE(text.find("died; exiting"), std::string::npos) << text;
  EXPECT_EQ(text.find("cannot start staging"), std::string::npos) << text;
}

}  // namespace
}  // namespace devserver
