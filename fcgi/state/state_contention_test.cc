// Contention and crash test of the state database: many worker processes run the stager's
// whole cycle (Request -> ClaimNext -> Heartbeat -> Publish / MarkFailed, with Get and
// GetWithFiles reads in between) against one real database file while the parent SIGKILLs
// some of them at random moments (mid-transaction, holding claims) and starts replacements
// until all the work is done. It checks what the state layer promises under that load:
//   - no call of a surviving process ever fails (no SQLITE_BUSY, no "claim lost");
//   - the file passes PRAGMA integrity_check (killed writers leave hot journals behind);
//   - no row stays `staging` once its dead owner is swept;
//   - every published artifact has exactly its files, and readers never see other files;
//   - a fencing token is never handed out twice.
//
// Size, from the environment (defaults: 16 processes x 2000 cycles, 24 kills; under a
// sanitizer 16 x 750, since ASan makes each cycle several times slower and the test should
// stay near a minute on two cores):
//   DEVSERVER_CONTENTION_PROCESSES  concurrent worker processes
//   DEVSERVER_CONTENTION_CYCLES     cycles per process (the total is processes x cycles)
//   DEVSERVER_CONTENTION_KILLS      SIGKILLs spread evenly over the run
//   DEVSERVER_CONTENTION_DIR        where the database goes (default /dev/shm when writable,
//                                   else /tmp; /tmp or /var/lib/... measures the disk too)
// It prints the throughput and the latency of the write calls (SQLite's busy handler waits
// inside them, so their tail is the busy wait).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "fcgi/state/liveness.h"
#include "fcgi/state/state_db.h"
#include "tests/support/temp_dir.h"

namespace devserver::state {
namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int kDefaultCycles = 750;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr int kDefaultCycles = 750;
#else
constexpr int kDefaultCycles = 2000;
#endif
#else
constexpr int kDefaultCycles = 2000;
#endif

constexpr int kArtifactsPerBuild = 4;
constexpr int kMaxStaging = 64;

int64_t EnvInt(const char* name, int64_t fallback) {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read before any thread or child exists.
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::atoll(value) : fallback;
}

std::string EnvString(const char* name, const std::string& fallback) {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): as above.
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : fallback;
}

// Progress shared by the parent and every worker (an anonymous shared mapping made before
// the first fork): tickets name the work, `done` counts finished cycles.
struct Shared {
  std::atomic<int64_t> next_ticket{0};
  std::atomic<int64_t> done{0};
};
static_assert(std::atomic<int64_t>::is_always_lock_free, "shared across processes");

std::string BuildOf(int64_t ticket) {
  return "board/R1-" + std::to_string(ticket / kArtifactsPerBuild);
}
std::string ArtifactOf(int64_t ticket) { return "a" + std::to_string(ticket % kArtifactsPerBuild); }
std::string UrlOf(const std::string& build) { return "gs://bucket/" + build; }

// The files an artifact is published with, a function of its name only, so that anyone can
// tell whether a staged row has exactly its own files. Paths start with the artifact, as
// files are unique per build.
std::vector<StagedFile> FilesOf(const std::string& build, const std::string& artifact) {
  const size_t n = std::hash<std::string>()(build + "|" + artifact) % 3 + 1;
  std::vector<StagedFile> files;
  for (size_t i = 0; i < n; ++i) {
    const std::string path = artifact + "/f" + std::to_string(i);
    // Every other file without sums: those are stored as NULL and read back as "".
    files.push_back({path, static_cast<int64_t>(100 * i + build.size()),
                     i % 2 == 0 ? "sha1:" + build + "/" + path : "",
                     i % 2 == 0 ? "sha256:" + build + "/" + path : ""});
  }
  return files;
}

bool SameFiles(const std::vector<StagedFile>& a, const std::vector<StagedFile>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].path != b[i].path || a[i].size != b[i].size || a[i].sha1 != b[i].sha1 ||
        a[i].sha256 != b[i].sha256) {
      return false;
    }
  }
  return true;
}

// One worker process: runs cycles until the shared total is reached. Writes one line per
// event to its log with a single write(2) each, so a SIGKILL loses at most the line being
// written: "C <token> <build> <artifact>" claimed, "P <token>" published, "F <token>"
// failed on purpose, "E <message>" an error, and at the end "S <cycles> <write calls>
// <write us total> <slowest write us> <writes over 100 ms>". Exit status 0 means no error.
class Worker {
 public:
  Worker(std::string dir, std::string db_path, Shared* shared, int64_t total, uint64_t seed)
      : dir_(std::move(dir)),
        db_path_(std::move(db_path)),
        shared_(shared),
        total_(total),
        random_(seed) {}

  int Run() {
    const std::string log_path = dir_ + "/log." + std::to_string(getpid());
    log_fd_ = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd_ < 0) return 2;
    OwnerLock lock;
    Status s = lock.Acquire(dir_ + "/owners");
    if (!s.ok()) {
      Error("owner lock: " + s.message());
      return 3;
    }
    StateOptions options;
    options.retry_delay_seconds = 0;  // a failed row asked for again is queued again at once
    s = StateDb::Open(db_path_, options, &db_);
    if (!s.ok()) {
      Error("open: " + s.message());
      return 3;
    }
    owner_ = lock.owner();
    int64_t cycles = 0;
    while (shared_->done.load() < total_) {
      Cycle(shared_->next_ticket.fetch_add(1));
      shared_->done.fetch_add(1);
      ++cycles;
    }
    Log("S " + std::to_string(cycles) + " " + std::to_string(write_calls_) + " " +
        std::to_string(write_micros_) + " " + std::to_string(slowest_write_micros_) + " " +
        std::to_string(slow_writes_));
    db_.reset();
    return errors_ == 0 ? 0 : 1;
  }

 private:
  void Log(const std::string& line) {
    const std::string text = line + "\n";
    (void)!write(log_fd_, text.data(), text.size());
  }
  void Error(const std::string& what) {
    ++errors_;
    std::string line = "E " + what;
    std::replace(line.begin(), line.end(), '\n', ' ');
    Log(line);
  }
  bool Check(const Status& s, const std::string& what) {
    if (!s.ok()) Error(what + ": " + s.message());
    return s.ok();
  }

  // Times a write call: SQLite's busy handler sleeps inside it while others hold the lock.
  template <typename F>
  Status Timed(F&& call) {
    const auto start = std::chrono::steady_clock::now();
    Status s = call();
    const int64_t micros = std::chrono::duration_cast<std::chrono::microseconds>(
                               std::chrono::steady_clock::now() - start)
                               .count();
    ++write_calls_;
    write_micros_ += micros;
    slowest_write_micros_ = std::max(slowest_write_micros_, micros);
    if (micros > 100'000) ++slow_writes_;
    return s;
  }

  void Cycle(int64_t ticket) {
    const std::string build = BuildOf(ticket);
    const std::string artifact = ArtifactOf(ticket);
    std::vector<ArtifactStatus> statuses;
    // New work, at either priority.
    Status s = Timed([&] {
      return db_->Request(build, UrlOf(build), {artifact}, static_cast<int>(ticket % 2), &statuses);
    });
    if (Check(s, "request " + build + " " + artifact) &&
        (statuses.size() != 1 || statuses[0].state == ArtifactState::kMissing)) {
      Error("request " + build + " " + artifact + ": no state after the request");
    }
    // Now and then an older row again: usually the read-only fast path, a write when the
    // row failed (then it is queued again) or the priority rises.
    if (ticket >= 16 && random_() % 4 == 0) {
      const int64_t old =
          ticket - 1 - static_cast<int64_t>(random_() % std::min<int64_t>(ticket, 400));
      const std::string old_build = BuildOf(old);
      s = Timed([&] {
        return db_->Request(old_build, UrlOf(old_build), {ArtifactOf(old)}, 0, &statuses);
      });
      Check(s, "request again " + old_build);
    }

    std::optional<Claim> claim;
    if (Check(Timed([&] { return db_->ClaimNext(owner_, kMaxStaging, &claim); }), "claim") &&
        claim) {
      Log("C " + std::to_string(claim->token) + " " + claim->build + " " + claim->artifact);
      bool ok = Check(Timed([&] { return db_->Heartbeat(*claim, 1, 10); }), "heartbeat");
      ok = ok && Check(Timed([&] { return db_->Heartbeat(*claim, 5, std::nullopt); }),
                       "second heartbeat");
      if (ok && random_() % 10 == 0) {
        if (Check(Timed([&] { return db_->MarkFailed(*claim, "induced failure"); }), "fail")) {
          Log("F " + std::to_string(claim->token));
        }
      } else if (ok) {
        const std::vector<StagedFile> files = FilesOf(claim->build, claim->artifact);
        if (Check(Timed([&] { return db_->Publish(*claim, files); }), "publish")) {
          Log("P " + std::to_string(claim->token));
        }
      }
    }

    // What /is_staged and the waiters do: read a recent build whole, and one row.
    const int64_t seen =
        ticket - static_cast<int64_t>(random_() % std::min<int64_t>(ticket + 1, 64));
    const std::string read_build = BuildOf(seen);
    std::vector<std::string> all(kArtifactsPerBuild);
    for (int i = 0; i < kArtifactsPerBuild; ++i) all[i] = "a" + std::to_string(i);
    std::vector<std::vector<StagedFile>> files;
    if (Check(db_->GetWithFiles(read_build, all, &statuses, &files), "get with files")) {
      for (size_t i = 0; i < all.size(); ++i) {
        const bool staged = statuses.at(i).state == ArtifactState::kStaged;
        if (staged ? !SameFiles(files.at(i), FilesOf(read_build, all[i])) : !files.at(i).empty()) {
          Error("get with files " + read_build + " " + all[i] + ": " +
                std::to_string(files.at(i).size()) + " files while " +
                ArtifactStateName(statuses.at(i).state));
        }
      }
    }
    Check(db_->Get(build, {artifact}, &statuses), "get");
  }

  const std::string dir_;
  const std::string db_path_;
  Shared* const shared_;
  const int64_t total_;
  std::mt19937_64 random_;
  int log_fd_ = -1;
  std::unique_ptr<StateDb> db_;
  Owner owner_;
  int errors_ = 0;
  int64_t write_calls_ = 0;
  int64_t write_micros_ = 0;
  int64_t slowest_write_micros_ = 0;
  int64_t slow_writes_ = 0;
};

std::string Scalar(Connection* db, const std::string& sql) {
  Statement stmt;
  Status s = db->Prepare(sql, &stmt);
  bool row = false;
  if (s.ok()) s = stmt.Step(&row);
  if (!s.ok()) return "error: " + s.message();
  return row ? stmt.Text(0) : "no row";
}

TEST(StateContentionTest, KilledAndLiveWorkersNeverSeeErrorsOrCorruption) {
  const int processes = static_cast<int>(EnvInt("DEVSERVER_CONTENTION_PROCESSES", 16));
  const int64_t cycles = EnvInt("DEVSERVER_CONTENTION_CYCLES", kDefaultCycles);
  const int kills = static_cast<int>(EnvInt("DEVSERVER_CONTENTION_KILLS", 24));
  const int64_t total = processes * cycles;
  ASSERT_GT(processes, 0);
  ASSERT_GT(total, 0);
  // TempDir makes its directory under /tmp; another parent gets one of its own. The default is
  // /dev/shm: a SIGKILL loses nothing the page cache holds, so the disk's fsync adds only time
  // (on this project's CI disk a commit costs ~1.3 ms and 16 x 2000 cycles take minutes).
  const std::string parent_dir =
      EnvString("DEVSERVER_CONTENTION_DIR", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "");
  testing::TempDir scratch("devserver-contention");
  std::string dir = scratch.path();
  if (!parent_dir.empty()) {
    dir = parent_dir + "/devserver-contention-XXXXXX";
    ASSERT_NE(mkdtemp(dir.data()), nullptr) << dir;
  }
  // Removed however the test ends, like a TempDir (kept with DEVSERVER_KEEP_TEST_DIRS).
  struct RemoveDir {
    std::string path;
    ~RemoveDir() {
      // NOLINTNEXTLINE(concurrency-mt-unsafe): the workers are gone by then.
      if (path.empty() || std::getenv("DEVSERVER_KEEP_TEST_DIRS") != nullptr) return;
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  } remove_dir{parent_dir.empty() ? "" : dir};
  const std::string path = dir + "/state.db";
  {
    std::unique_ptr<StateDb> db;  // migrated once, closed before any fork
    ASSERT_TRUE(StateDb::Open(path, StateOptions{}, &db).ok());
  }

  void* mapping =
      mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mapping, MAP_FAILED);
  auto* shared = new (mapping) Shared();

  std::mt19937_64 random(20261128);
  std::set<pid_t> live;
  std::set<pid_t> killed;
  int spawned = 0;
  int bad_exits = 0;
  auto spawn = [&] {
    const uint64_t seed = random();
    (void)fflush(nullptr);  // nothing buffered is written twice
    const pid_t child = fork();
    if (child == 0) {
      Worker worker(dir, path, shared, total, seed);
      _exit(worker.Run());
    }
    if (child > 0) {
      live.insert(child);
      ++spawned;
    }
    return child > 0;
  };

  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < processes; ++i) ASSERT_TRUE(spawn());
  int kills_done = 0;
  while (!live.empty()) {
    int status = 0;
    const pid_t exited = waitpid(-1, &status, WNOHANG);
    if (exited > 0) {
      live.erase(exited);
      if (killed.count(exited) == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        ++bad_exits;
        ADD_FAILURE() << "worker " << exited << " ended with status " << status
                      << " (its errors are listed below)";
      }
      // A replacement, so that the work of the dead is done and the load stays the same.
      if (shared->done.load() < total) {
        ASSERT_TRUE(spawn());
      }
      continue;
    }
    // Kills spread evenly over the run by progress, each at a random live worker: it may be
    // anywhere, inside a transaction, holding a claim or between calls.
    if (kills_done < kills && shared->done.load() >= total * (kills_done + 1) / (kills + 1)) {
      auto victim = live.begin();
      std::advance(victim, static_cast<long>(random() % live.size()));
      if (kill(*victim, SIGKILL) == 0) killed.insert(*victim);
      ++kills_done;
      continue;
    }
    (void)poll(nullptr, 0, 1);  // polls the progress counter and the children
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const int64_t done = shared->done.load();
  EXPECT_GE(done, total);
  EXPECT_EQ(bad_exits, 0);
  munmap(mapping, sizeof(Shared));

  // The workers' logs: every claim, publication and error.
  struct ClaimRecord {
    std::string build, artifact;
    char outcome = '?';  // P published, F failed, ? unknown (its process was killed)
  };
  std::map<int64_t, ClaimRecord> claims;  // by token
  std::vector<std::string> errors;
  int64_t duplicate_tokens = 0, write_calls = 0, write_micros = 0, slowest = 0, slow = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().filename().string().rfind("log.", 0) != 0) continue;
    std::ifstream in(entry.path());
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      char kind = 0;
      fields >> kind;
      if (kind == 'E') {
        errors.push_back(entry.path().filename().string() + ": " + line);
      } else if (kind == 'C') {
        int64_t token = 0;
        ClaimRecord record;
        if (!(fields >> token >> record.build >> record.artifact)) continue;  // cut by a kill
        if (!claims.emplace(token, record).second) ++duplicate_tokens;
      } else if (kind == 'P' || kind == 'F') {
        int64_t token = 0;
        if (fields >> token && claims.count(token) > 0) claims[token].outcome = kind;
      } else if (kind == 'S') {
        int64_t n = 0, calls = 0, micros = 0, worst = 0, over = 0;
        if (fields >> n >> calls >> micros >> worst >> over) {
          write_calls += calls;
          write_micros += micros;
          slowest = std::max(slowest, worst);
          slow += over;
        }
      }
    }
  }
  for (size_t i = 0; i < errors.size() && i < 10; ++i) ADD_FAILURE() << errors[i];
  EXPECT_EQ(errors.size(), 0u);
  EXPECT_EQ(duplicate_tokens, 0) << "a fencing token was handed out twice";

  std::unique_ptr<StateDb> db;
  ASSERT_TRUE(StateDb::Open(path, StateOptions{}, &db).ok());
  Connection raw;
  ASSERT_TRUE(Connection::Open(path, 30000, &raw).ok());
  EXPECT_EQ(Scalar(&raw, "PRAGMA integrity_check"), "ok");
  EXPECT_EQ(Scalar(&raw, "PRAGMA foreign_key_check"), "no row");

  // Every owner is dead now: the sweep returns their rows to the queue, and none is left
  // staging.
  const std::string staging_before =
      Scalar(&raw, "SELECT count(*) FROM artifacts WHERE state = 'staging'");
  int requeued = 0;
  ASSERT_TRUE(db->RequeueDeadOwners(&requeued).ok());
  EXPECT_EQ(std::to_string(requeued), staging_before);
  EXPECT_EQ(Scalar(&raw, "SELECT count(*) FROM artifacts WHERE state = 'staging'"), "0");

  // Tokens: the database's agree with the logs', no two rows share one, and the counter is
  // past them all; what the logs say was published is staged under that very token.
  EXPECT_EQ(Scalar(&raw, "SELECT count(*) - count(DISTINCT token) FROM artifacts WHERE token > 0"),
            "0");
  const int64_t counter = std::atoll(Scalar(&raw, "SELECT value FROM counters").c_str());
  ASSERT_FALSE(claims.empty());
  EXPECT_GE(counter, claims.rbegin()->first);
  int64_t published = 0, failed = 0, unknown = 0, taken_over = 0;
  {
    // A claim cut by a kill whose row a later claim took: a dead owner's work taken over
    // while the others ran.
    std::map<std::pair<std::string, std::string>, int64_t> last_claim;
    for (const auto& [token, record] : claims) last_claim[{record.build, record.artifact}] = token;
    for (const auto& [token, record] : claims) {
      taken_over += record.outcome == '?' && last_claim[{record.build, record.artifact}] > token;
    }
    std::map<std::pair<std::string, std::string>, int64_t> last_publication;
    for (const auto& [token, record] : claims) {
      if (record.outcome == 'P') last_publication[{record.build, record.artifact}] = token;
      published += record.outcome == 'P' ? 1 : 0;
      failed += record.outcome == 'F' ? 1 : 0;
      unknown += record.outcome == '?' ? 1 : 0;
    }
    for (const auto& [key, token] : last_publication) {
      std::vector<ArtifactStatus> statuses;
      std::vector<std::vector<StagedFile>> files;
      ASSERT_TRUE(db->GetWithFiles(key.first, {key.second}, &statuses, &files).ok());
      EXPECT_EQ(statuses[0].state, ArtifactState::kStaged) << key.first << " " << key.second;
      EXPECT_TRUE(SameFiles(files[0], FilesOf(key.first, key.second)))
          << key.first << " " << key.second;
      EXPECT_EQ(Scalar(&raw, "SELECT token FROM artifacts WHERE build = '" + key.first +
                                 "' AND artifact = '" + key.second + "'"),
                std::to_string(token));
    }
  }
  // Files belong to staged rows only, and each staged row has exactly its own.
  EXPECT_EQ(Scalar(&raw,
                   "SELECT count(*) FROM files f JOIN artifacts a USING (build, artifact) "
                   "WHERE a.state <> 'staged'"),
            "0");
  {
    Statement rows;
    ASSERT_TRUE(
        raw.Prepare("SELECT build, artifact FROM artifacts WHERE state = 'staged'", &rows).ok());
    bool row = false;
    int64_t staged = 0;
    int64_t files_expected = 0;
    while (rows.Step(&row).ok() && row) {
      ++staged;
      std::vector<StagedFile> files;
      ASSERT_TRUE(db->Files(rows.Text(0), rows.Text(1), &files).ok());
      files_expected += static_cast<int64_t>(files.size());
      EXPECT_TRUE(SameFiles(files, FilesOf(rows.Text(0), rows.Text(1))))
          << rows.Text(0) << " " << rows.Text(1);
    }
    EXPECT_EQ(Scalar(&raw, "SELECT count(*) FROM files"), std::to_string(files_expected));
    EXPECT_GT(staged, 0);
  }

  // What the dead left behind can be taken over and finished, under fresh tokens.
  OwnerLock mine;
  ASSERT_TRUE(mine.Acquire(dir + "/owners").ok());
  int64_t drained = 0;
  for (;;) {
    std::optional<Claim> claim;
    ASSERT_TRUE(db->ClaimNext(mine.owner(), kMaxStaging, &claim).ok());
    if (!claim) break;
    EXPECT_GT(claim->token, counter);
    ASSERT_TRUE(db->Publish(*claim, FilesOf(claim->build, claim->artifact)).ok());
    ++drained;
  }
  EXPECT_EQ(Scalar(&raw, "SELECT count(*) FROM artifacts WHERE state IN ('queued', 'staging')"),
            "0");
  EXPECT_EQ(Scalar(&raw, "PRAGMA integrity_check"), "ok");

  std::printf(
      "[ contention ] %d processes (%d started, %d killed), %lld cycles in %.1f s: %.0f "
      "cycles/s; %zu claims (%lld published, %lld failed on purpose, %lld cut by a kill, "
      "%lld of those taken over by live workers), %d requeued from dead owners at the end, "
      "%lld drained after; %zu errors\n"
      "[ contention ] write calls: %lld, mean %.2f ms, slowest %.1f ms, %lld over 100 ms\n",
      processes, spawned, static_cast<int>(killed.size()), static_cast<long long>(done), seconds,
      static_cast<double>(done) / seconds, claims.size(), static_cast<long long>(published),
      static_cast<long long>(failed), static_cast<long long>(unknown),
      static_cast<long long>(taken_over), requeued, static_cast<long long>(drained), errors.size(),
      static_cast<long long>(write_calls),
      write_calls > 0 ? static_cast<double>(write_micros) / static_cast<double>(write_calls) / 1e3
                      : 0.0,
      static_cast<double>(slowest) / 1e3, static_cast<long long>(slow));
}

}  // namespace
}  // namespace devserver::state
