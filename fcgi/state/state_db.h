// StateDb: the shared state of every worker process, and the only code that speaks SQL.
//
// The database is the per-build lock and the status table at once: a row per
// (build, artifact) says whether it is queued, staging (by whom, how far), staged or failed
// (why). Every change is one short BEGIN IMMEDIATE transaction, so any worker can answer any
// request, and a restart forgets nothing. Schema: schema/*.sql.
//
// A StateDb is opened in the process that uses it (after fork) and aborts if another
// process touches it. Its methods are thread-safe: writes go through one connection behind a
// mutex; reads lease one of a few read-only connections (ReadPool), so a request reading
// state never queues behind a stager's write.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "fcgi/base/env.h"
#include "fcgi/base/status.h"
#include "fcgi/state/liveness.h"
#include "fcgi/state/read_pool.h"
#include "fcgi/state/sqlite.h"

namespace devserver::state {

enum class ArtifactState { kMissing, kQueued, kStaging, kStaged, kFailed };

const char* ArtifactStateName(ArtifactState state);

struct ArtifactStatus {
  std::string artifact;
  ArtifactState state = ArtifactState::kMissing;
  std::string error;  // cause of the last failure
  int attempts = 0;
  int64_t bytes_done = 0;
  std::optional<int64_t> bytes_total;
};

// The right to stage one artifact, held until Publish, MarkFailed or loss of the lease.
struct Claim {
  std::string build;
  std::string archive_url;
  std::string artifact;
  int64_t token = 0;  // fencing token: only this claim may publish
  int attempts = 0;   // including this one
};

struct StagedFile {
  std::string path;  // relative to the build directory
  int64_t size = 0;
  std::string sha1;    // base64; empty when not computed
  std::string sha256;  // base64; empty when not computed
};

// Host-wide totals for /check_health.
struct StateSummary {
  int64_t staging = 0;  // artifacts being staged now
  int64_t queued = 0;   // waiting for a stager
  int64_t failed = 0;
  int64_t in_flight_bytes = 0;  // downloaded so far by the stagings under way
  int64_t staged_bytes = 0;     // size of every staged file
};

// One build and every artifact anyone asked for, for the index page.
struct BuildOverview {
  std::string build;
  std::string archive_url;
  int64_t last_used_at = 0;
  std::vector<ArtifactStatus> artifacts;  // by name
};

// A build eviction may take: nothing of it queued or staging.
struct EvictableBuild {
  std::string build;
  int64_t last_used_at = 0;
  int64_t bytes = 0;  // of the staged files recorded under it
};

struct StateOptions {
  int busy_timeout_ms = 30000;
  int lease_seconds = 30;        // a claim not renewed for this long may be taken over
  int retry_delay_seconds = 60;  // a failed artifact is not retried sooner
  // Read-only connections per process. More than the cores rarely helps: a read holds one
  // for a few microseconds.
  int read_connections = 4;
  Env* env = nullptr;            // clock; Env::Default() when null
  Liveness* liveness = nullptr;  // FileLockLiveness() when null
};

class StateDb {
 public:
  // builds.last_used_at is rewritten only when it is older than this, so that repeated
  // requests for a staged build are reads. Eviction by LRU needs no finer clock.
  static constexpr int64_t kLastUsedResolutionSeconds = 60;

  // Opens the file, creating it and applying migrations as needed.
  static Status Open(const std::string& path, const StateOptions& options,
                     std::unique_ptr<StateDb>* db);
  ~StateDb();

  // Records that a caller wants these artifacts of `build`: a missing one is queued, a
  // failed one past its retry delay is queued again, a queued or staging one takes the more
  // urgent priority. Marks the build used (builds.last_used_at, kept to within
  // kLastUsedResolutionSeconds). Fills the state each artifact is in afterwards. A request
  // that would change nothing is answered from a read, without the write lock.
  Status Request(const std::string& build, const std::string& archive_url,
                 const std::vector<std::string>& artifacts, int priority,
                 std::vector<ArtifactStatus>* statuses);

  // The current state of each artifact (kMissing for those without a row), in the order
  // asked, from one snapshot.
  Status Get(const std::string& build, const std::vector<std::string>& artifacts,
             std::vector<ArtifactStatus>* statuses);

  // Get, plus the files of each staged artifact ((*files)[i] belongs to (*statuses)[i]; empty
  // unless staged), read in one query: what /is_staged needs to check files on disk.
  Status GetWithFiles(const std::string& build, const std::vector<std::string>& artifacts,
                      std::vector<ArtifactStatus>* statuses,
                      std::vector<std::vector<StagedFile>>* files);

  // Takes the most urgent claimable artifact for `owner`: queued ones, and staging ones
  // whose owner is dead or whose lease ran out. Empty when there is none, or when
  // `max_staging` artifacts are already being staged by live owners (the host-wide limit).
  Status ClaimNext(const Owner& owner, int max_staging, std::optional<Claim>* claim);

  // Renews the lease and records progress. Failed ("claim lost") once another owner holds it.
  Status Heartbeat(const Claim& claim, int64_t bytes_done, std::optional<int64_t> bytes_total);

  // Marks the artifact staged with its files, if `claim` still holds it.
  Status Publish(const Claim& claim, const std::vector<StagedFile>& files);

  // Records the failure and its cause, if `claim` still holds it.
  Status MarkFailed(const Claim& claim, const std::string& error);

  // Gives the claim back unfinished (the worker is stopping): queued again for any stager.
  Status Release(const Claim& claim);

  // Returns the staging rows of dead owners to the queue (start-up sweep); counts them.
  Status RequeueDeadOwners(int* requeued);

  // Forgets artifacts (for clean=True) unless one is being staged (then Failed). `remove`,
  // when given, is handed the paths of the forgotten files (relative to the build directory)
  // inside the same write transaction, so no stager can publish the same files again before
  // they are removed.
  Status Forget(const std::string& build, const std::vector<std::string>& artifacts,
                const std::function<void(const std::vector<std::string>&)>& remove = {});

  Status Summary(StateSummary* summary);

  // The `limit` most recently used builds, newest first.
  Status RecentBuilds(int limit, std::vector<BuildOverview>* builds);

  // The names of the builds in folder `parent` ("x86-alex-release") with at least one staged
  // artifact: "R19-2003.0.0-a1-b1819", ... (unordered).
  Status StagedBuilds(const std::string& parent, std::vector<std::string>* names);
  // The files recorded for a staged artifact.
  Status Files(const std::string& build, const std::string& artifact,
               std::vector<StagedFile>* files);

  // Eviction (state_db_eviction.cc) ----------------------------------------------------------

  // Builds last used before `used_before` with nothing queued or staging, least recently
  // used first.
  Status EvictableBuilds(int64_t used_before, std::vector<EvictableBuild>* builds);

  // Forgets `build` and everything staged of it, if it is still evictable, in one write
  // transaction that first calls `detach`: detach moves the build's files out of sight, so
  // no request ever sees the build staged without its files, and no stager can start on
  // the build until the files are gone from its path. Nothing is forgotten when detach
  // fails. `*evicted` says whether the build went.
  Status Evict(const std::string& build, int64_t used_before, const std::function<Status()>& detach,
               bool* evicted);

  // Counts reads of staged files (nginx's log of /static/) as use of their builds: a path,
  // relative to the static root, uses every build that is one of its directory prefixes.
  // Writes only when a build's recorded use is older than kLastUsedResolutionSeconds.
  Status MarkUsed(const std::vector<std::string>& paths);

 private:
  StateDb(Connection connection, std::unique_ptr<ReadPool> readers, const StateOptions& options);
  // Aborts when used from a process other than the one that opened it.
  void CheckProcess() const;
  Status ReadStatus(const std::string& build, const std::string& artifact, ArtifactStatus* status);
  // True, with `statuses` filled, when Request would write nothing: every row exists, none is
  // due a retry or a more urgent priority, and the build's use was recorded recently.
  bool RequestChangesNothing(const std::string& build, const std::vector<std::string>& artifacts,
                             int priority, int64_t now, std::vector<ArtifactStatus>* statuses);

  Connection db_;  // the writer; guarded by mu_
  std::unique_ptr<ReadPool> readers_;
  StateOptions options_;
  int opener_pid_;
  std::mutex mu_;
};

}  // namespace devserver::state
