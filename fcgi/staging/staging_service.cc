#include "fcgi/staging/staging_service.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <thread>

#include "fcgi/base/fault_env.h"
#include "fcgi/base/log.h"
#include "fcgi/base/slot_lock.h"
#include "fcgi/build/build_version.h"
#include "fcgi/staging/payload_digest.h"
#include "fcgi/staging/temp_dir.h"
#include "fcgi/storage/gcs_store.h"

namespace devserver {
namespace {

// How often stagers look for work queued by other workers, and waiters re-read state
// written by other workers. Work queued in this worker wakes them at once.
constexpr std::chrono::milliseconds kStagerPoll{200};
// Update clients' log entries wait at most this long, or until this many wait, to be written.
constexpr std::chrono::milliseconds kOmahaLogBatch{200};
// How long a batch's write may take beyond its interval, for a reader waiting one out.
constexpr std::chrono::milliseconds kOmahaLogWriteMargin{100};
constexpr size_t kOmahaLogMaxBatch = 1000;
constexpr std::chrono::milliseconds kWaiterPoll{50};
// How often reads under /static/ are written down: use is recorded to the minute anyway.
constexpr std::chrono::milliseconds kReadsBatch{1000};

Status MakeStore(const Config& config, Env* env, std::unique_ptr<storage::ArchiveStore>* store) {
  if (!config.archive_dir.empty()) {
    *store = storage::MakeLocalDirStore(config.archive_dir, env);
    return Status::Ok();
  }
  storage::GcsOptions options;
  options.endpoint = config.gs_endpoint;
  options.auth = config.auth == "metadata"          ? storage::GcsOptions::Auth::kMetadataServer
                 : config.auth == "service_account" ? storage::GcsOptions::Auth::kServiceAccountKey
                                                    : storage::GcsOptions::Auth::kNone;
  options.key_file = config.key_file;
  options.stall_timeout_ms = config.stall_timeout_s * 1000;
  options.max_attempts = config.max_attempts;
  options.slice_threshold = static_cast<uint64_t>(config.slice_threshold);
  options.slice_size = static_cast<uint64_t>(config.slice_size);
  options.max_slices = config.max_slices;
  options.max_connections = config.max_connections;
  options.connections_lock_file = ConnectionsLockPath(config);
  options.env = env;
  return storage::CreateGcsStore(options, store);
}

}  // namespace

std::string StateDatabasePath(const Config& config) { return config.state_dir + "/state.db"; }

std::string OwnerLockDir(const Config& config) { return config.state_dir + "/owners"; }

std::string PayloadFactsLockPath(const Config& config) {
  return config.state_dir + "/payload-facts.lock";
}

Status StagingService::FillPayloadFacts(const std::string& folder, const std::string& artifact,
                                        bool is_delta, state::StagedFile* file) {
  // A slot per file (hashed; two files sharing one only wait for each other).
  constexpr uint64_t kSlots = 4096;
  SlotLock lock;
  Status s = lock.Lock(PayloadFactsLockPath(config_),
                       std::hash<std::string>()(folder + "/" + file->path) % kSlots, nullptr);
  if (!s.ok()) return s;
  std::vector<state::StagedFile> files;
  s = db_->Files(folder, artifact, &files);
  if (!s.ok()) return s;
  for (const state::StagedFile& f : files) {
    if (f.path == file->path && f.payload) {
      *file = f;  // another worker read it while this one waited
      return Status::Ok();
    }
  }
  PayloadDigest digest;
  s = DigestPayload(config_.static_root + "/" + folder + "/" + file->path, nullptr, &digest);
  if (!s.ok()) return s;
  if (digest.size != file->size) {
    return Status::Failed(folder + "/" + file->path + " is not the size it was staged with");
  }
  file->sha1 = digest.sha1_base64;
  file->sha256 = digest.sha256_base64;
  file->payload = state::PayloadFacts{digest.sha256_hex, digest.metadata_size, is_delta,
                                      BuildOsVersion(std::filesystem::path(folder).filename())};
  bool recorded = false;
  s = db_->RecordPayloadFacts(folder, artifact, *file, &recorded);
  if (s.ok() && !recorded) {
    return Status::Unavailable(folder + "/" + file->path + " changed while it was read; ask again");
  }
  if (s.ok()) DS_LOG(kInfo) << "recorded the facts of " << folder << "/" << file->path;
  return s;
}

std::string ConnectionsLockPath(const Config& config) {
  return config.state_dir + "/connections.lock";
}

Status StagingService::Start(const Config& config, int reads_fd,
                             std::unique_ptr<StagingService>* service) {
  std::unique_ptr<StagingService> started(new StagingService());
  started->config_ = config;
  started->env_ = Env::Default();
  if (!config.test_faults.empty()) {
    DS_LOG(kWarning) << "injecting file-system faults from " << config.test_faults
                     << " ([server] test_faults): for tests only";
    started->fault_env_ = std::make_unique<FaultInjectionEnv>(Env::Default(), config.test_faults);
    started->env_ = started->fault_env_.get();
  }
  Status s = started->lock_.Acquire(OwnerLockDir(config));
  if (!s.ok()) return s;
  state::StateOptions options;
  options.lease_seconds = config.lease_s;
  options.retry_delay_seconds = config.retry_delay_s;
  options.max_attempts = config.max_stage_attempts;
  s = state::StateDb::Open(StateDatabasePath(config), options, &started->db_);
  if (!s.ok()) return s;
  int requeued = 0;
  s = started->db_->RequeueDeadOwners(&requeued);
  if (!s.ok()) return s;
  int swept = state::RemoveDeadOwnerLocks(OwnerLockDir(config));
  if (requeued > 0 || swept > 0) {
    DS_LOG(kInfo) << "start-up sweep: " << requeued << " artifacts of dead owners queued again, "
                  << swept << " dead owner locks removed";
  }
  s = ArtifactRegistry::Load(config.plugin_dir, &started->registry_);
  if (!s.ok()) return s;
  s = MakeStore(config, started->env_, &started->store_);
  if (!s.ok()) return s;

  started->waiters_ = std::make_unique<WaitHub>(started->db_.get(), kWaiterPoll);
  // Often enough for the lease, and for progress in SQL and on the index page to move.
  started->leases_ = std::make_unique<LeaseKeeper>(
      started->db_.get(), std::min(std::chrono::milliseconds(1000),
                                   std::chrono::milliseconds(config.lease_s * 1000 / 6)));
  started->listings_ = std::make_unique<BuildListings>(started->db_.get(), started->store_.get(),
                                                       config.state_dir + "/listings.lock");
  StagingDeps deps;
  deps.config = &started->config_;
  deps.env = started->env_;
  deps.db = started->db_.get();
  deps.store = started->store_.get();
  deps.registry = started->registry_.get();
  deps.leases = started->leases_.get();
  deps.listings = started->listings_.get();
  if (!config.cluster_peers.empty()) {
    PeerFillOptions fill;
    fill.peers = config.cluster_peers;
    fill.self = config.cluster_self;
    fill.stall_timeout_ms = config.stall_timeout_s * 1000;
    fill.skip_after_failure_s = config.cluster_fail_timeout_s;
    started->peer_fill_ = std::make_unique<PeerFill>(std::move(fill), started->env_);
    deps.peer_fill = started->peer_fill_.get();
  }
  started->stagers_ = std::make_unique<StagerPool>(
      deps, started->lock_.owner(), started->waiters_.get(), config.max_concurrent, kStagerPoll);
  started->evictor_ =
      std::make_unique<Evictor>(started->db_.get(), started->env_, config.static_root);
  if (config.cache_check_interval_s > 0) {
    started->janitor_ = std::make_unique<Janitor>(
        started->evictor_.get(), BudgetFromConfig(config), EvictionLockPath(config),
        std::chrono::seconds(config.cache_check_interval_s));
  }
  {
    state::StateDb* db = started->db_.get();
    started->omaha_log_ = std::make_unique<Batcher<state::OmahaLogEntry>>(
        [db](const std::vector<state::OmahaLogEntry>& entries) {
          return db->RecordOmahaEntries(entries);
        },
        kOmahaLogBatch, kOmahaLogMaxBatch);
  }
  if (reads_fd >= 0) {
    started->reads_fd_ = reads_fd;
    state::StateDb* db = started->db_.get();
    started->reads_ = std::make_unique<ReadRecorder>(
        reads_fd, config.static_root,
        [db](const std::vector<std::string>& paths) { return db->MarkUsed(paths); }, kReadsBatch);
  }
  *service = std::move(started);
  return Status::Ok();
}

StagingService::~StagingService() {
  Shutdown();
  omaha_log_.reset();
  reads_.reset();
  janitor_.reset();
  stagers_.reset();  // joins the stagers before the things they use go away
  leases_.reset();   // renews until the last stager has let go
  waiters_.reset();
}

void StagingService::Drain() {
  std::lock_guard<std::mutex> lock(ending_mu_);
  if (stagers_) stagers_->Drain();
  if (janitor_) janitor_->Stop();
}

void StagingService::Shutdown() {
  // The signal thread and the worker's main thread may both get here.
  std::lock_guard<std::mutex> lock(ending_mu_);
  if (stagers_) stagers_->Stop();
  if (waiters_) waiters_->Shutdown();
  if (reads_) reads_->Stop();
  if (omaha_log_) omaha_log_->Stop();
  // This worker's copy of the reads socket goes at once: a pool started after this one's
  // master died must find the socket free while this worker still finishes.
  if (reads_fd_ >= 0) {
    close(reads_fd_);
    reads_fd_ = -1;
  }
  // Last: an eviction under way finishes removing its build first.
  if (janitor_) janitor_->Stop();
}

Status StagingService::Request(const BuildRef& ref, const std::vector<std::string>& artifacts,
                               int priority, ArtifactStatuses* statuses) {
  Status s = db_->Request(ref.folder, ref.archive_url, artifacts, priority, statuses);
  if (!s.ok()) return s;
  for (const auto& status : *statuses) {
    if (status.state == state::ArtifactState::kQueued) {
      stagers_->Wake();
      break;
    }
  }
  return Status::Ok();
}

Status StagingService::Wait(const BuildRef& ref, const std::vector<std::string>& artifacts,
                            std::chrono::steady_clock::time_point deadline,
                            ArtifactStatuses* statuses) {
  return waiters_->WaitSettled(ref.folder, artifacts, deadline, statuses);
}

void StagingService::SettleOmahaLog() {
  omaha_log_->Flush();
  // Another worker writes what it was handed within one batch interval; a test script or a
  // lab client that reads the log right after its device's request must find it there.
  if (config_.workers != 1) std::this_thread::sleep_for(kOmahaLogBatch + kOmahaLogWriteMargin);
}

Status StagingService::Check(const BuildRef& ref, const std::vector<std::string>& artifacts,
                             ArtifactStatuses* statuses,
                             std::vector<std::vector<state::StagedFile>>* files_out,
                             state::NextUpdateProbe* probe) {
  // One read for every state and file; the disk checks below hold no lock.
  std::vector<std::vector<state::StagedFile>> files;
  Status s = db_->GetWithFiles(ref.folder, artifacts, statuses, &files, probe);
  if (!s.ok()) return s;
  const std::string build_dir = config_.static_root + "/" + ref.folder;
  for (size_t i = 0; i < statuses->size(); ++i) {
    state::ArtifactStatus& status = (*statuses)[i];
    if (status.state != state::ArtifactState::kStaged) continue;
    for (const state::StagedFile& file : files[i]) {
      struct stat st {};
      std::string path = build_dir + "/" + file.path;
      bool intact = lstat(path.c_str(), &st) == 0 &&
                    (S_ISLNK(st.st_mode) || static_cast<int64_t>(st.st_size) == file.size);
      if (!intact) {
        DS_LOG(kWarning) << ref.folder << " " << status.artifact << ": " << file.path
                         << " is missing or changed on disk; forgetting the artifact";
        // Unless a new staging of it has published meanwhile (it has another token).
        (void)db_->ForgetStaged(ref.folder, status.artifact, status.token);
        state::ArtifactStatus missing;
        missing.artifact = status.artifact;
        status = missing;
        files[i].clear();
        break;
      }
    }
  }
  if (files_out != nullptr) *files_out = std::move(files);
  return Status::Ok();
}

Status StagingService::Clean(const BuildRef& ref, const std::vector<std::string>& artifacts) {
  const std::string build_dir = config_.static_root + "/" + ref.folder;
  // The files leave their paths inside Forget's transaction (renamed into a hidden trash
  // directory), so no publication in between can lose fresh files to this removal; they are
  // deleted after the commit, or put back if it failed.
  BuildTrash trash(env_, build_dir, lock_.owner());
  Status s = db_->Forget(ref.folder, artifacts, [&trash](const std::vector<std::string>& paths) {
    return trash.Take(paths);
  });
  if (!s.ok()) {
    trash.PutBack();
    return s;
  }
  trash.Empty();
  return Status::Ok();
}

}  // namespace devserver
