// The reliability tests' shared fixture: the staging fixture with the service's
// timing knobs turned down so faults play out in seconds, plus what every fault case checks
// afterwards: the state file read directly, the /static/ view of a file while it stages, and
// the time things took.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/staging_fixture.h"

namespace devserver::testing {

// How often an idle stager looks for claimable work (fcgi/staging/staging_service.cc
// kStagerPoll): a dead owner's artifact is taken over within about this long.
constexpr int kStagerPollMs = 200;

inline double MsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

// A connection of the test's own to the service's state file, for reads in tight polling
// loops (the sqlite3 shell costs a process per query). Not read-only: a worker killed inside a
// write transaction leaves a hot journal, which only a writable connection may roll back.
class StateFile {
 public:
  explicit StateFile(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << "opening " << path << ": " << sqlite3_errmsg(db_);
    }
    sqlite3_busy_timeout(db_, 5000);
  }
  ~StateFile() { sqlite3_close(db_); }
  StateFile(const StateFile&) = delete;
  StateFile& operator=(const StateFile&) = delete;

  // Every row of `sql`, columns joined by '|' and rows by '\n' (the sqlite3 shell's format);
  // "<error: ...>" when it fails.
  std::string Query(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
      return std::string("<error: ") + sqlite3_errmsg(db_) + ">";
    }
    std::string out;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      if (!out.empty()) out += '\n';
      for (int i = 0; i < sqlite3_column_count(st); ++i) {
        const unsigned char* text = sqlite3_column_text(st, i);
        if (i > 0) out += '|';
        if (text != nullptr) out += reinterpret_cast<const char*>(text);
      }
    }
    if (rc != SQLITE_DONE) out = std::string("<error: ") + sqlite3_errmsg(db_) + ">";
    sqlite3_finalize(st);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

// Reads one /static/ URL over and over while a test runs, as a device would, and classifies
// every answer: 404 (not published yet) and 200 with exactly the expected bytes are the only
// acceptable ones; anything else (a short, mixed or corrupt file) is counted as bad.
class StaticWatcher {
 public:
  StaticWatcher(int port, std::string target, std::string expected)
      : port_(port), target_(std::move(target)), expected_(std::move(expected)) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~StaticWatcher() { Stop(); }
  StaticWatcher(const StaticWatcher&) = delete;
  StaticWatcher& operator=(const StaticWatcher&) = delete;

  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int not_found() const { return not_found_; }
  int whole() const { return whole_; }
  int bad() const { return bad_; }
  int no_answer() const { return no_answer_; }
  const std::string& first_bad() const { return first_bad_; }

 private:
  void Loop() {
    while (!stop_) {
      HttpResult r = HttpGet(port_, target_, 10000);
      if (r.status == 404) {
        ++not_found_;
      } else if (r.status == 200 && r.body == expected_) {
        ++whole_;
      } else if (r.status == 0) {
        // No answer at all: the service itself was killed (test 2). A client that got no
        // answer holds no file, so this is not a partial file.
        ++no_answer_;
      } else if (bad_++ == 0) {
        first_bad_ = "HTTP " + std::to_string(r.status) + ", " + std::to_string(r.body.size()) +
                     " of " + std::to_string(expected_.size()) + " bytes";
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // a request rate, not a wait
    }
  }

  const int port_;
  const std::string target_;
  const std::string expected_;
  std::atomic<bool> stop_{false};
  std::atomic<int> not_found_{0};
  std::atomic<int> whole_{0};
  std::atomic<int> bad_{0};
  std::atomic<int> no_answer_{0};
  std::string first_bad_;  // written by the thread before Stop() joins it
  std::thread thread_;
};

class ReliabilityTest : public StagingTest {
 protected:
  void ConfigureService(ServiceProcess::Options* options) override {
    options->workers = 3;
    options->threads = 16;
    for (const std::string& flag : {"--stall-timeout=" + std::to_string(kStallTimeoutS),
                                    "--max-attempts=" + std::to_string(kMaxAttempts),
                                    "--retry-delay=" + std::to_string(kRetryDelayS)}) {
      options->extra_flags.push_back(flag);
    }
    for (const std::string& flag : ExtraFlags()) options->extra_flags.push_back(flag);
  }

  // Flags a test adds (later flags win).
  virtual std::vector<std::string> ExtraFlags() { return {}; }

  static constexpr int kStallTimeoutS = 2;
  static constexpr int kMaxAttempts = 3;
  static constexpr int kRetryDelayS = 2;

  std::string StagePath(const FakeBuild& b, const std::string& artifacts) {
    return "/stage?archive_url=" + b.Url() + "&artifacts=" + artifacts;
  }
  std::string IsStaged(const FakeBuild& b, const std::string& artifacts) {
    return Get("/is_staged?archive_url=" + b.Url() + "&artifacts=" + artifacts).body;
  }
  std::string StateDbPath() { return service_.state_dir() + "/state.db"; }
  std::string IntegrityCheck() { return Sql("PRAGMA integrity_check"); }
  // The fake's view of one object's downloads.
  fakegcs::ObjectCounters Upstream(const FakeBuild& b, const std::string& name) {
    return fake_->Counters().Of(b.Key(name));
  }
  // Polls `target` until it answers 200, checking that every answer before is the recorded
  // failure `cause` (a failed artifact keeps its failure for retry_delay: no new download).
  // Returns the 200's body, or the first unexpected answer.
  std::string RetryUntilSuccess(const std::string& target, const std::string& cause,
                                int timeout_ms = 20000) {
    std::string last;
    PollUntil(
        [&] {
          HttpResult r = Get(target);
          if (r.status == 200) {
            last = r.body;
            return true;
          }
          if (r.status != 500 || r.body != cause) {
            last = "HTTP " + std::to_string(r.status) + ": " + r.body;
            return true;
          }
          return false;
        },
        timeout_ms);
    return last;
  }
};

}  // namespace devserver::testing
