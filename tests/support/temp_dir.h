// Scratch directories for tests. Header-only, so any test target can use it without linking
// another library.
#pragma once

#include <stdlib.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <system_error>

namespace devserver::testing {

// A fresh directory under /tmp for one test, removed with everything in it at destruction
// (kept when DEVSERVER_KEEP_TEST_DIRS is set, for post-mortems).
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "devserver-test")
      : path_("/tmp/" + prefix + "-XXXXXX") {
    if (mkdtemp(path_.data()) == nullptr) {
      const int err = errno;
      // Fixtures make these in constructors and member initialisers, where a gtest assertion
      // cannot stop the test: running on without a directory would only fail later, obscurely.
      std::cerr << "TempDir: mkdtemp " << path_ << ": " << std::generic_category().message(err)
                << std::endl;
      std::abort();
    }
  }
  ~TempDir() {
    // NOLINTNEXTLINE(concurrency-mt-unsafe): no test sets the environment from another thread.
    if (std::getenv("DEVSERVER_KEEP_TEST_DIRS") != nullptr) return;
    // Best effort: a destructor has no one to tell, and a leftover directory in /tmp is harmless.
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // A path inside the directory; nothing is created.
  std::string Sub(const std::string& relative) const { return path_ + "/" + relative; }

 private:
  std::string path_;
};

}  // namespace devserver::testing
