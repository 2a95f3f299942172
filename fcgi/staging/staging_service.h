// The staging service of one worker process: the facade api/ uses to stage builds.
//
// It owns this worker's share of the machinery: the liveness lock, the connection to the
// shared state file, the storage client, the plugin registry, the stager threads and the
// waiters. Requests only record what they want and wait; stagers do the work.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fcgi/base/batcher.h"
#include "fcgi/base/fault_env.h"
#include "fcgi/base/status.h"
#include "fcgi/build/build_ref.h"
#include "fcgi/cache/evictor.h"
#include "fcgi/cache/janitor.h"
#include "fcgi/cache/read_recorder.h"
#include "fcgi/cluster/peer_fill.h"
#include "fcgi/config/config.h"
#include "fcgi/staging/artifact_registry.h"
#include "fcgi/staging/build_listing.h"
#include "fcgi/staging/lease_keeper.h"
#include "fcgi/staging/stager_pool.h"
#include "fcgi/staging/wait_hub.h"
#include "fcgi/state/liveness.h"
#include "fcgi/state/state_db.h"
#include "fcgi/storage/archive_store.h"

namespace devserver {

using ArtifactStatuses = std::vector<state::ArtifactStatus>;

class StagingService {
 public:
  // Called in the worker after fork(): takes this process's liveness lock, opens (creating
  // or migrating) <state_dir>/state.db, returns dead owners' rows to the queue, loads the
  // plugins, connects storage and starts the stagers and the janitor, and a recorder of
  // reads under /static/ on `reads_fd` unless it is -1 (the service closes it at Shutdown).
  static Status Start(const Config& config, int reads_fd, std::unique_ptr<StagingService>* service);
  ~StagingService();

  // Records that a caller wants `artifacts` of the build (priority 0 = someone waits for
  // them) and wakes the stagers. Fills the states right after.
  Status Request(const BuildRef& ref, const std::vector<std::string>& artifacts, int priority,
                 ArtifactStatuses* statuses);
  // Waits until every artifact is staged, failed or missing; Unavailable on timeout or
  // shutdown.
  Status Wait(const BuildRef& ref, const std::vector<std::string>& artifacts,
              std::chrono::steady_clock::time_point deadline, ArtifactStatuses* statuses);
  // The current states. A staged artifact whose files are no longer intact on disk is
  // forgotten and reported missing, so the next request stages it again. With `files`, the
  // files of each artifact found staged and intact ((*files)[i] for (*statuses)[i]). With
  // `probe`, also whether a label waits for the client's next update check, in the same read.
  Status Check(const BuildRef& ref, const std::vector<std::string>& artifacts,
               ArtifactStatuses* statuses,
               std::vector<std::vector<state::StagedFile>>* files = nullptr,
               state::NextUpdateProbe* probe = nullptr);
  // Forgets the artifacts and removes their files (clean=True). Failed while one stages.
  Status Clean(const BuildRef& ref, const std::vector<std::string>& artifacts);

  Status Summary(state::StateSummary* summary) { return db_->Summary(summary); }
  Status LiveStatus(const state::StateDb::LiveStatusLimits& limits,
                    state::StateDb::LiveStatusSnapshot* snapshot) {
    return db_->LiveStatus(limits, snapshot);
  }

  Status StagedBuilds(const std::string& parent, std::vector<std::string>* names) {
    return db_->StagedBuilds(parent, names);
  }

  // Computes and records the facts of a payload `artifact` staged without them (by a version
  // before they were recorded), once: one worker reads the file while the others wait, then
  // find them recorded. `file` is its files row; filled with the facts.
  Status FillPayloadFacts(const std::string& folder, const std::string& artifact, bool is_delta,
                          state::StagedFile* file);

  // The staged file at `static_path` ("<build>/<path>"), with its facts when it is a
  // payload; *found false when nothing staged lists it.
  Status FileAt(const std::string& static_path, state::StagedFile* file, bool* found) {
    return db_->FileAt(static_path, file, found);
  }

  // Update clients (Omaha). Log entries are written in batches (within a fifth of a second);
  // the reads below see every entry of a request answered before they began, this worker's
  // or another's (SettleOmahaLog).
  void RecordOmaha(std::vector<state::OmahaLogEntry> entries) {
    for (state::OmahaLogEntry& e : entries) omaha_log_->Add(std::move(e));
  }
  Status TakeForcedLabel(const std::string& ip, std::string* label) {
    return db_->TakeForcedLabel(ip, label);
  }
  Status SetForcedLabel(const std::string& ip, const std::string& label) {
    return db_->SetForcedLabel(ip, label);
  }
  Status GetOmahaClient(const std::string& ip, state::OmahaClient* client, bool* found) {
    SettleOmahaLog();
    return db_->GetOmahaClient(ip, client, found);
  }
  Status GetOmahaLog(const std::string& ip, std::vector<state::OmahaLogEntry>* entries) {
    SettleOmahaLog();
    return db_->GetOmahaLog(ip, entries);
  }

  // Records that the build was used (reads of its files through the API count), at most
  // one write a minute.
  Status MarkUsed(const std::string& folder) { return db_->MarkBuildUsed(folder); }

  // The staged file of build `folder` that is its object `object` unchanged (peer fill).
  Status FindVerbatimFile(const std::string& folder, const std::string& object,
                          state::StagedFile* file) {
    return db_->FindVerbatimFile(folder, object, file);
  }

  const ArtifactRegistry& registry() const { return *registry_; }
  const state::Owner& owner() const { return lock_.owner(); }
  int busy_stagers() const { return stagers_ ? stagers_->busy() : 0; }
  // The worker drains (a reload): stagers claim nothing new but finish what they stage, and
  // waiters keep waiting; eviction stops.
  void Drain();
  // The worker stops: stagers give their work back (partial downloads included) to the queue,
  // the janitor stops, and every waiter is woken with "shutting down".
  void Shutdown();

 private:
  StagingService() = default;
  // Writes this worker's waiting log entries and waits out the other workers' batches.
  void SettleOmahaLog();

  Config config_;
  std::mutex ending_mu_;  // Drain() and Shutdown() one at a time
  Env* env_ = nullptr;    // Env::Default(), or fault_env_ under [server] test_faults
  std::unique_ptr<FaultInjectionEnv> fault_env_;
  state::OwnerLock lock_;
  std::unique_ptr<state::StateDb> db_;
  std::unique_ptr<storage::ArchiveStore> store_;
  std::unique_ptr<ArtifactRegistry> registry_;
  std::unique_ptr<WaitHub> waiters_;
  std::unique_ptr<LeaseKeeper> leases_;
  std::unique_ptr<BuildListings> listings_;
  std::unique_ptr<PeerFill> peer_fill_;  // none outside cluster mode
  std::unique_ptr<StagerPool> stagers_;
  std::unique_ptr<Evictor> evictor_;
  std::unique_ptr<Janitor> janitor_;     // none when [cache] eviction_interval is 0
  std::unique_ptr<ReadRecorder> reads_;  // none when reads are not counted
  std::unique_ptr<Batcher<state::OmahaLogEntry>> omaha_log_;
  int reads_fd_ = -1;  // this worker's copy of the reads socket; closed by Shutdown()
};

// Where the state lives under [paths] state_dir.
std::string StateDatabasePath(const Config& config);
std::string OwnerLockDir(const Config& config);
// The byte locks that cap the host's storage downloads in flight ([storage] max_connections).
std::string ConnectionsLockPath(const Config& config);
// The byte locks under which one worker computes an old payload's missing facts.
std::string PayloadFactsLockPath(const Config& config);

}  // namespace devserver
