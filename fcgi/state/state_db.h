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
  // Cause of the last failure; while staging again, of the last attempt that was lost.
  std::string error;
  // What kind of failure `error` is: "not_found" when the build's objects the artifact needs
  // are not in storage (a build that does not exist, or not yet); empty for any other.
  std::string error_kind;
  int attempts = 0;
  int64_t bytes_done = 0;
  std::optional<int64_t> bytes_total;
  int64_t token = 0;  // of the claim that staged it (or stages it now)
};

// The right to stage one artifact, held until Publish, MarkFailed, Release or loss of the
// lease.
struct Claim {
  std::string build;
  std::string archive_url;
  std::string artifact;
  int64_t token = 0;  // fencing token: only this claim may publish
  int attempts = 0;   // of this round, including this one
};

// An artifact ClaimNext gave up on: its attempts ran out, so it is failed now. Its last
// owner's temp directory is left for the caller to sweep.
struct Abandoned {
  std::string build;
  std::string artifact;
};

// A claim's heartbeat: renews its lease and records how far it got.
struct Beat {
  Claim claim;
  int64_t bytes_done = 0;
  std::optional<int64_t> bytes_total;
};

// One object of a build's storage folder as a staging round read it.
struct ListedObject {
  std::string name;             // relative to the folder: "stateful.tgz"
  std::optional<int64_t> size;  // absent when only a manifest named it
  int64_t generation = 0;
  std::string crc32c;  // base64, as GCS reports it; may be empty
  std::string md5;     // base64; may be empty
};

// A build's folder, read once per staging round and shared by its stagers.
struct Listing {
  int64_t round = 0;  // increases with every read of any folder
  bool from_manifest = false;
  std::vector<ListedObject> objects;  // by name
};

// What an update check tells a device about a payload file besides its size and hashes,
// recorded when the payload is staged (table payloads).
struct PayloadFacts {
  std::string sha256_hex;
  int64_t metadata_size = -1;  // from the payload header; -1: none (not a payload)
  bool is_delta = false;
  std::string version;  // the build's OS version: "15633.0.0"
};

struct StagedFile {
  std::string path;  // relative to the build directory
  int64_t size = 0;
  std::string sha1;                                    // base64; empty when not computed
  std::string sha256;                                  // base64; empty when not computed
  std::optional<PayloadFacts> payload = std::nullopt;  // set for update payloads
  // Set when the file is this object of the build's folder, byte for byte (peer fill).
  std::string source_object = std::string();
  int64_t source_generation = 0;
};

// Whether /api/setnextupdate left a label for a client's next update check, asked in the
// same read as an update check's other question (one snapshot, one read lock: the lock costs
// an update check more than either query).
struct NextUpdateProbe {
  std::string ip;
  bool waiting = false;
};

// One entry of an update client's log: an event it reported, or an update check (no event).
struct OmahaLogEntry {
  std::string ip;
  int64_t at_us = 0;  // when the request came, Unix microseconds
  std::string version;
  std::string track;
  std::string board;
  std::optional<int64_t> event_type;  // none: an update check
  std::optional<int64_t> event_result;
  std::optional<int64_t> error_code;
  std::string previous_version;
};

// What an update client last reported, and the label its next update check will get.
struct OmahaClient {
  std::string last_known_version;
  std::optional<int64_t> last_event_type;
  std::optional<int64_t> last_event_status;
  std::string forced_update_label;  // empty: none
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
  // Claims one round of an artifact may use: an attempt lost with its owner (a crash, an
  // expired lease) counts, so an artifact that kills its stagers ends up failed instead of
  // being taken over forever. 0: no limit.
  int max_attempts = 5;
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
  // failed one past its retry delay is queued again (its attempts start again at 0), a
  // queued or staging one takes the more urgent priority. Queuing anything starts a new
  // staging round of the build: its recorded listing is dropped. Marks the build used
  // (builds.last_used_at, kept to within kLastUsedResolutionSeconds). Fills the state each
  // artifact is in afterwards. A request that would change nothing is answered from a read,
  // without the write lock.
  Status Request(const std::string& build, const std::string& archive_url,
                 const std::vector<std::string>& artifacts, int priority,
                 std::vector<ArtifactStatus>* statuses);

  // The current state of each artifact (kMissing for those without a row), in the order
  // asked, from one snapshot.
  Status Get(const std::string& build, const std::vector<std::string>& artifacts,
             std::vector<ArtifactStatus>* statuses);

  // Get, plus the files of each staged artifact ((*files)[i] belongs to (*statuses)[i]; empty
  // unless staged; payloads with their facts), read in one query: what /is_staged needs to
  // check files on disk, and /update to answer. When
  // the build's recorded use is older than kLastUsedResolutionSeconds, it is marked used
  // (reads count as use for eviction, at most one write a minute per build).
  // With `probe`, also whether a label waits for probe->ip, in the same read.
  Status GetWithFiles(const std::string& build, const std::vector<std::string>& artifacts,
                      std::vector<ArtifactStatus>* statuses,
                      std::vector<std::vector<StagedFile>>* files,
                      NextUpdateProbe* probe = nullptr);

  // Marks `build` used now if its recorded use is older than kLastUsedResolutionSeconds
  // (a read first; a write at most once a minute). Unknown builds are left alone.
  Status MarkBuildUsed(const std::string& build);

  // Claims (state_db_claims.cc) ------------------------------------------------------------

  // Takes the most urgent claimable artifact for `owner`: queued ones, and staging ones
  // whose owner is dead or whose lease ran out. Empty when there is none, or when
  // `max_staging` artifacts are already being staged by live owners (the host-wide limit).
  // A lost attempt's cause is kept in the row's error; an artifact whose attempts ran out
  // (StateOptions::max_attempts) is failed instead of claimed, and listed in `abandoned`.
  Status ClaimNext(const Owner& owner, int max_staging, std::optional<Claim>* claim,
                   std::vector<Abandoned>* abandoned = nullptr);

  // Renews the leases of `beats` and records their progress, in one write transaction.
  // (*lost)[i] is true when beats[i]'s claim is held by another owner now; a claim finished
  // under its own token (published, failed, released) is not renewed, and not lost.
  Status HeartbeatAll(const std::vector<Beat>& beats, std::vector<bool>* lost);
  // One claim's heartbeat: Failed ("claim lost") once another owner holds it.
  Status Heartbeat(const Claim& claim, int64_t bytes_done, std::optional<int64_t> bytes_total);

  // Whether `token` is the claim of a live owner within its lease right now.
  Status IsLiveClaim(int64_t token, bool* live);

  // Moves the files to publish into the build directory: the ones given, at their paths.
  using PlaceFiles = std::function<Status(const std::vector<StagedFile>& files)>;

  // Publishes the artifact with `files`, if `claim` still holds it: in one write
  // transaction it checks the claim, calls `place` with the files no other artifact of the
  // build lists (a path another staged artifact lists stays as it is, and this artifact
  // lists it with that file's size), and records the artifact staged. Once the claim is lost
  // nothing is placed ("claim lost" is returned). When `place` fails, nothing is recorded.
  Status Publish(const Claim& claim, const std::vector<StagedFile>& files, const PlaceFiles& place);
  // Publish with files already in place.
  Status Publish(const Claim& claim, const std::vector<StagedFile>& files) {
    return Publish(claim, files, nullptr);
  }

  // Records the failure and its cause, if `claim` still holds it.
  Status MarkFailed(const Claim& claim, const std::string& error,
                    const std::string& error_kind = "");

  // Gives the claim back unfinished (the worker is stopping): queued again for any stager,
  // without counting the attempt.
  Status Release(const Claim& claim);

  // Returns the staging rows of dead owners to the queue (start-up sweep), or fails the
  // ones whose attempts ran out; counts the requeued ones.
  Status RequeueDeadOwners(int* requeued);

  // Forgetting (state_db_requests.cc) -----------------------------------------------------

  // Moves files out of sight inside a write transaction; see Forget.
  using DetachFiles = std::function<Status(const std::vector<std::string>& paths)>;

  // Forgets artifacts (for clean=True) unless one is being staged (then Failed). `detach`,
  // when given, gets the paths (relative to the build directory) of the forgotten files that
  // no artifact left lists, inside the same write transaction: it must move them out of
  // sight (the caller removes them after this returns), so no publication in between can
  // lose its fresh files, and when it fails nothing is forgotten.
  Status Forget(const std::string& build, const std::vector<std::string>& artifacts,
                const DetachFiles& detach = nullptr);

  // Forgets a staged artifact whose files turned out missing or changed, unless it was
  // staged again meanwhile (its token is no longer `token`). Its files stay on disk.
  Status ForgetStaged(const std::string& build, const std::string& artifact, int64_t token);

  // Listings (state_db_listings.cc) -------------------------------------------------------

  // The build's listing of the current round; *found false when there is none.
  Status GetListing(const std::string& build, Listing* listing, bool* found);
  // Records a fresh read of the build's folder as its listing, with a new round number
  // (set in *listing). The build must have been requested (it has a row).
  Status PutListing(const std::string& build, Listing* listing);
  // Records the metadata read for one object a manifest named.
  Status UpdateListedObject(const std::string& build, const ListedObject& object);

  Status Summary(StateSummary* summary);

  // The `limit` most recently used builds, newest first.
  Status RecentBuilds(int limit, std::vector<BuildOverview>* builds);

  // The names of the builds in folder `parent` ("x86-alex-release") with at least one staged
  // artifact: "R19-2003.0.0-a1-b1819", ... (unordered).
  Status StagedBuilds(const std::string& parent, std::vector<std::string>* names);
  // The staged file of `build` that is its folder's object `object` byte for byte, with the
  // generation it was fetched at (StagedFile::source_*): NotFound when no staged artifact
  // lists one.
  Status FindVerbatimFile(const std::string& build, const std::string& object, StagedFile* file);
  // The files recorded for a staged artifact, payloads with their facts.
  Status Files(const std::string& build, const std::string& artifact,
               std::vector<StagedFile>* files);
  // Records the facts of a payload staged without them (by a version before schema 3): the
  // file's row gets its hashes and a payloads row, if it still lists `size` bytes. *recorded
  // false when the row is gone or changed (cleaned, evicted, staged again meanwhile).
  Status RecordPayloadFacts(const std::string& build, const std::string& artifact,
                            const StagedFile& file, bool* recorded);
  // The staged file at `static_path` (relative to the static root: "<build>/<path>"), with
  // its facts when it is a payload; *found false when no staged artifact lists it.
  Status FileAt(const std::string& static_path, StagedFile* file, bool* found);

  // Omaha update clients (state_db_omaha.cc) -----------------------------------------------

  // Appends `entries` to their clients' logs, dropping the oldest past the bounds below, in
  // one write transaction. What a client last reported is read from its newest entries.
  Status RecordOmahaEntries(const std::vector<OmahaLogEntry>& entries);
  // The label set for `ip`'s next update check, taken: *label is empty when none was set.
  // Exactly one caller takes a label, however many workers ask at once.
  Status TakeForcedLabel(const std::string& ip, std::string* label);
  Status SetForcedLabel(const std::string& ip, const std::string& label);
  // What the client last reported (by its entries' times) and its pending label; *found
  // false for a client never seen nor given a label.
  Status GetOmahaClient(const std::string& ip, OmahaClient* client, bool* found);
  // The client's log, oldest first; every client's when `ip` is empty.
  Status GetOmahaLog(const std::string& ip, std::vector<OmahaLogEntry>* entries);

  static constexpr int kOmahaLogPerClient = 100;
  static constexpr int kOmahaLogTotal = 100000;

  // Eviction (state_db_eviction.cc) ----------------------------------------------------------

  // Builds last used before `used_before` with nothing queued or staging, least recently
  // used first.
  Status EvictableBuilds(int64_t used_before, std::vector<EvictableBuild>* builds);

  // Forgets `build` and everything staged of it, if it is still evictable, in one write
  // transaction that deletes the rows and then calls `detach`, which moves the build's files
  // out of sight: no request ever sees the build staged without its files, and no stager can
  // start on the build until the files are gone from its path. Nothing is forgotten when
  // detach fails. `*evicted` says whether the build went.
  Status Evict(const std::string& build, int64_t used_before, const std::function<Status()>& detach,
               bool* evicted);

  // Counts reads of staged files (nginx's log of /static/) as use of their builds: a path,
  // relative to the static root, uses every build that is one of its directory prefixes.
  // Writes only when a build's recorded use is older than kLastUsedResolutionSeconds.
  Status MarkUsed(const std::vector<std::string>& paths);

  // Live status (state_db_status.cc): what /api/status and the index page show ------------

  // One artifact of a build on the status page: its state, and when it moved.
  struct ArtifactProgress {
    ArtifactStatus status;
    int64_t requested_at = 0;
    std::optional<int64_t> started_at;  // the current or last attempt's claim
    // While staging: when bytes_done was recorded (its claim's last heartbeat, to the second).
    std::optional<int64_t> updated_at;
    std::optional<int64_t> finished_at;  // when it became staged or failed
  };
  struct BuildProgress {
    std::string build;
    std::string archive_url;
    int64_t last_used_at = 0;
    std::vector<ArtifactProgress> artifacts;  // by name
  };
  struct QueuedArtifact {
    std::string build;
    std::string artifact;
    int priority = 1;  // 0: a caller waits for it
    int64_t requested_at = 0;
  };
  struct LiveStatusLimits {
    int builds = 100;
    int queue = 100;
    int omaha_events = 20;
  };
  struct LiveStatusSnapshot {
    StateSummary totals;                      // host-wide, as Summary() reads them
    std::vector<BuildProgress> builds;        // most recently used first
    std::vector<QueuedArtifact> queue;        // in the order stagers will claim them
    std::vector<OmahaLogEntry> omaha_events;  // newest first
  };
  // The host-wide totals, the recent builds with their artifacts' progress, the head of the
  // queue and the newest update client log entries, from one snapshot (a page that shows a
  // total beside the rows it sums must not read them at two moments). Entries still in a worker's
  // batch (up to a fifth of a second) are not seen yet: a page polled every second does not wait
  // for them.
  Status LiveStatus(const LiveStatusLimits& limits, LiveStatusSnapshot* snapshot);

 private:
  StateDb(Connection connection, std::unique_ptr<ReadPool> readers, const StateOptions& options);
  // Summary() on a reader the caller holds (inside its read transaction).
  Status SummaryOn(Connection* reader, StateSummary* summary);
  // Aborts when used from a process other than the one that opened it.
  void CheckProcess() const;
  Status ReadStatus(const std::string& build, const std::string& artifact, ArtifactStatus* status);
  // ClaimNext's write transaction: one candidate claimed or abandoned; *more when it
  // abandoned one and should look again.
  Status ClaimOne(const Owner& owner, int max_staging, int64_t now, std::optional<Claim>* claim,
                  std::vector<Abandoned>* abandoned, bool* more);
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
