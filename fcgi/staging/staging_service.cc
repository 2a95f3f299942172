#include "fcgi/staging/staging_service.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include <filesystem>

#include "fcgi/base/log.h"
#include "fcgi/storage/gcs_store.h"

namespace devserver {
namespace {

// How often stagers look for work queued by other workers, and waiters re-read state
// written by other workers. Work queued in this worker wakes them at once.
constexpr std::chrono::milliseconds kStagerPoll{200};
constexpr std::chrono::milliseconds kWaiterPoll{50};
// How often reads under /static/ are written down: use is recorded to the minute anyway.
constexpr std::chrono::milliseconds kReadsBatch{1000};

Status MakeStore(const Config& config, std::unique_ptr<storage::ArchiveStore>* store) {
  if (!config.archive_dir.empty()) {
    *store = storage::MakeLocalDirStore(config.archive_dir);
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
  return storage::CreateGcsStore(options, store);
}

// Files of a build directory on their way out: moved under a hidden directory of the build
// (nginx refuses names starting with '.'), then deleted or put back.
class Trash {
 public:
  explicit Trash(std::string build_dir) : build_dir_(std::move(build_dir)) {}

  // Moves each path (relative to the build directory) into the trash; on failure puts back
  // what it moved and says why.
  Status Take(const std::vector<std::string>& paths) {
    dir_ = build_dir_ + "/.removing-" + std::to_string(getpid()) + "-" +
           std::to_string(next_.fetch_add(1));
    if (mkdir(dir_.c_str(), 0700) != 0) return Status::IOError("mkdir " + dir_, errno);
    for (const std::string& path : paths) {
      const std::string from = build_dir_ + "/" + path;
      const std::string to = dir_ + "/" + std::to_string(moved_.size());
      if (rename(from.c_str(), to.c_str()) != 0) {
        if (errno == ENOENT) continue;  // already gone: nothing to hide
        const Status s = Status::IOError("rename " + from + " to " + to, errno);
        PutBack();
        return s;
      }
      moved_.push_back(path);
    }
    return Status::Ok();
  }

  void PutBack() {
    for (size_t i = 0; i < moved_.size(); ++i) {
      const std::string from = dir_ + "/" + std::to_string(i);
      const std::string to = build_dir_ + "/" + moved_[i];
      if (rename(from.c_str(), to.c_str()) != 0) {
        DS_LOG(kWarning) << "putting back " << to << ": " << ErrnoText(errno);
      }
    }
    moved_.clear();
    Empty();
  }

  void Empty() {
    if (dir_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    if (ec) DS_LOG(kWarning) << "removing " << dir_ << ": " << ec.message();
    dir_.clear();
  }

 private:
  static inline std::atomic<uint64_t> next_{0};
  std::string build_dir_;
  std::string dir_;
  std::vector<std::string> moved_;
};

}  // namespace

std::string StateDatabasePath(const Config& config) { return config.state_dir + "/state.db"; }

std::string OwnerLockDir(const Config& config) { return config.state_dir + "/owners"; }

Status StagingService::Start(const Config& config, int reads_fd,
                             std::unique_ptr<StagingService>* service) {
  std::unique_ptr<StagingService> started(new StagingService());
  started->config_ = config;
  Status s = started->lock_.Acquire(OwnerLockDir(config));
  if (!s.ok()) return s;
  state::StateOptions options;
  options.lease_seconds = config.lease_s;
  options.retry_delay_seconds = config.retry_delay_s;
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
  s = MakeStore(config, &started->store_);
  if (!s.ok()) return s;

  started->waiters_ = std::make_unique<WaitHub>(started->db_.get(), kWaiterPoll);
  StagingDeps deps;
  deps.config = &started->config_;
  deps.db = started->db_.get();
  deps.store = started->store_.get();
  deps.registry = started->registry_.get();
  // Often enough for the lease, and for progress in SQL and on the index page to move.
  deps.heartbeat = std::min(std::chrono::milliseconds(1000),
                            std::chrono::milliseconds(config.lease_s * 1000 / 6));
  started->stagers_ = std::make_unique<StagerPool>(
      deps, started->lock_.owner(), started->waiters_.get(), config.max_concurrent, kStagerPoll);
  started->evictor_ =
      std::make_unique<Evictor>(started->db_.get(), Env::Default(), config.static_root);
  if (config.cache_check_interval_s > 0) {
    started->janitor_ = std::make_unique<Janitor>(
        started->evictor_.get(), BudgetFromConfig(config), EvictionLockPath(config),
        std::chrono::seconds(config.cache_check_interval_s));
  }
  if (reads_fd >= 0) {
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
  reads_.reset();
  janitor_.reset();
  stagers_.reset();  // joins the stagers before the things they use go away
  waiters_.reset();
}

void StagingService::Shutdown() {
  if (stagers_) stagers_->Stop();
  if (janitor_) janitor_->Stop();
  if (reads_) reads_->Stop();
  if (waiters_) waiters_->Shutdown();
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

Status StagingService::Check(const BuildRef& ref, const std::vector<std::string>& artifacts,
                             ArtifactStatuses* statuses) {
  // One read for every state and file; the disk checks below hold no lock.
  std::vector<std::vector<state::StagedFile>> files;
  Status s = db_->GetWithFiles(ref.folder, artifacts, statuses, &files);
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
        break;
      }
    }
  }
  return Status::Ok();
}

Status StagingService::Clean(const BuildRef& ref, const std::vector<std::string>& artifacts) {
  const std::string build_dir = config_.static_root + "/" + ref.folder;
  // The files leave their paths inside Forget's transaction (renamed into a hidden trash
  // directory), so no publication in between can lose fresh files to this removal; they are
  // deleted after the commit, or put back if it failed.
  Trash trash(build_dir);
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
