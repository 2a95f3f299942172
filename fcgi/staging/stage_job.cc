#include "fcgi/staging/stage_job.h"

#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "fcgi/base/log.h"
#include "fcgi/build/build_ref.h"
#include "fcgi/metrics/metrics.h"
#include "fcgi/staging/failure_kind.h"
#include "fcgi/staging/fetch_progress.h"
#include "fcgi/staging/install_context.h"
#include "fcgi/staging/publication.h"
#include "fcgi/staging/temp_dir.h"

namespace devserver {
namespace {

using state::Claim;
using storage::ObjectInfo;

// The extraction budgets of the configuration.
extract::ExtractLimits ExtractLimitsOf(const Config& config) {
  extract::ExtractLimits limits;
  limits.max_bytes = int64_t{config.extract_max_gib} << 30;
  limits.max_entries = config.extract_max_entries;
  limits.max_ratio = config.extract_max_ratio;
  limits.max_seconds = config.extract_max_seconds;
  return limits;
}

// Plugins are not supposed to throw; one that does fails the artifact, not the stager.
template <typename Call>
Status GuardPlugin(const plugin::ArtifactPlugin& plugin, const char* what, Call call) {
  try {
    return call();
  } catch (const std::exception& e) {
    return Status::Failed("plugin " + plugin.Name() + " threw from " + what + ": " + e.what());
  }
}

bool IsStopping(const StagingDeps& deps) {
  return deps.stopping != nullptr && deps.stopping->load();
}

// Whether a dead staging directory of `artifact` should stay for that artifact's next stager.
bool AwaitsAdoption(state::StateDb* db, const std::string& build, const std::string& artifact) {
  std::vector<state::ArtifactStatus> statuses;
  if (!db->Get(build, {artifact}, &statuses).ok()) return true;  // when unsure, keep it
  return statuses[0].state == state::ArtifactState::kQueued ||
         statuses[0].state == state::ArtifactState::kStaging;
}

TempDirSweep SweepFor(const StagingDeps& deps, const std::string& build) {
  TempDirSweep sweep;
  sweep.claim_live = [&deps](int64_t token) {
    bool live = true;  // when unsure, keep it
    Status s = deps.db->IsLiveClaim(token, &live);
    return !s.ok() || live;
  };
  sweep.awaits_adoption = [&deps, build](const std::string& artifact) {
    return AwaitsAdoption(deps.db, build, artifact);
  };
  return sweep;
}

class StageJob : public storage::FetchObserver {
 public:
  StageJob(const StagingDeps& deps, const Claim& claim)
      : deps_(deps), claim_(claim), lease_(deps.leases->Register(claim)) {}

  Status Run();

  // FetchObserver, called from the downloading thread: progress goes to the lease keeper,
  // which writes it with the next renewal; what is written goes to the readers that follow the
  // object being downloaded.
  void OnProgress(uint64_t done, uint64_t /*total*/) override {
    lease_->ticket().SetProgress(done_before_ + static_cast<int64_t>(done));
  }
  void OnContiguous(const std::string& path, uint64_t contiguous) override {
    if (downloading_ != nullptr) downloading_->Advance(path, contiguous);
  }
  void OnRestart() override {
    if (downloading_ != nullptr) downloading_->Restart();
  }
  // Also true once Install failed: the downloads it needed are of no use any more.
  bool Cancelled() override {
    return lease_->ticket().lost() || IsStopping(deps_) || install_failed_.load();
  }

 private:
  using Downloads = std::map<std::string, std::shared_ptr<FetchProgress>>;

  Status Stage();
  Status Resolve(const plugin::ArtifactPlugin& plugin, std::vector<ObjectInfo>* needed,
                 plugin::BuildFolder* folder);
  // Downloads and installs at once (see FetchProgress); the Install whose output is published.
  Status DownloadAndInstall(const plugin::ArtifactPlugin& plugin,
                            const std::vector<ObjectInfo>& needed,
                            const plugin::BuildFolder& folder,
                            std::unique_ptr<StagingInstallContext>* installed);
  std::unique_ptr<StagingInstallContext> NewContext(const plugin::BuildFolder& folder);
  Status Download(const std::vector<ObjectInfo>& needed, const StagingInstallContext& ctx,
                  const Downloads& downloads);
  // The output files that are `fetched` objects unchanged, by path.
  std::map<std::string, VerbatimSource> VerbatimSources(
      const StagingInstallContext& ctx, const std::vector<ObjectInfo>& fetched) const;
  // Pauses up to `duration`, waking early when the staging is cancelled.
  void Pause(std::chrono::milliseconds duration);

  const StagingDeps& deps_;
  const Claim& claim_;
  std::unique_ptr<LeaseKeeper::Registration> lease_;
  BuildRef ref_;
  std::string build_dir_;
  std::unique_ptr<StagingTempDir> temp_;
  int64_t done_before_ = 0;               // bytes of the objects downloaded before the current one
  FetchProgress* downloading_ = nullptr;  // the object being downloaded
  std::atomic<bool> install_failed_{false};
};

void StageJob::Pause(std::chrono::milliseconds duration) {
  const int64_t until = deps_.env->MonotonicMicros() + duration.count() * 1000;
  while (deps_.env->MonotonicMicros() < until && !Cancelled()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

Status StageJob::Run() {
  // {artifact="..."}: the labels of this staging's series.
  const std::string artifact_label = metrics::Series("", {{"artifact", claim_.artifact}});
  metrics::Add("devserver_stagings_started_total" + artifact_label);
  const int64_t started_us = deps_.env->MonotonicMicros();
  Status s = Stage();
  if (s.ok()) {
    metrics::Add("devserver_stagings_succeeded_total" + artifact_label);
    metrics::Observe("devserver_staging_duration_seconds" + artifact_label,
                     static_cast<double>(deps_.env->MonotonicMicros() - started_us) / 1e6);
    return s;
  }
  auto count_failure = [&](const std::string& kind) {
    metrics::Add(metrics::Series("devserver_stagings_failed_total",
                                 {{"artifact", claim_.artifact}, {"kind", kind}}));
  };
  // The cause, prefixed with the artifact unless it already names it.
  std::string cause = s.message();
  if (cause.rfind(claim_.artifact + ":", 0) != 0) cause = claim_.artifact + ": " + cause;
  if (lease_->ticket().lost()) {
    // The new owner records the outcome; this stager only takes its own directory away.
    if (temp_) (void)temp_->Remove();
    count_failure("lease_lost");
    DS_LOG(kWarning) << "staging of " << claim_.build << " " << claim_.artifact
                     << " stopped: its claim was taken over";
    return Status::Failed(cause);
  }
  if (IsStopping(deps_)) {
    // Not a failure of the artifact: the next stager (this generation's successor, or another
    // worker) takes the claim over and adopts the partial downloads left in the directory.
    Status released = deps_.db->Release(claim_);
    if (!released.ok()) DS_LOG(kWarning) << released.message();
    return Status::Unavailable("staging of " + claim_.artifact + " interrupted by shutdown");
  }
  if (temp_) (void)temp_->Remove();
  count_failure(FailureKind(s));
  Status recorded =
      deps_.db->MarkFailed(claim_, cause, s.code() == Status::Code::kNotFound ? "not_found" : "");
  if (!recorded.ok()) DS_LOG(kWarning) << recorded.message();
  DS_LOG(kWarning) << "staging failed: " << claim_.build << " " << cause;
  return Status::Failed(cause);
}

Status StageJob::Resolve(const plugin::ArtifactPlugin& plugin, std::vector<ObjectInfo>* needed,
                         plugin::BuildFolder* folder) {
  const int64_t give_up_at =
      deps_.env->MonotonicMicros() + int64_t{deps_.config->object_wait_s} * 1'000'000;
  int64_t seen_round = 0;
  for (;;) {
    state::Listing listing;
    Status s = deps_.listings->Get(
        ref_, seen_round, [this] { return Cancelled(); }, &listing);
    if (!s.ok()) return s;
    seen_round = listing.round;
    folder->object_names.clear();
    std::map<std::string, state::ListedObject*> by_name;
    for (state::ListedObject& object : listing.objects) {
      folder->object_names.push_back(object.name);
      by_name[object.name] = &object;
    }
    std::vector<std::string> names;
    // An empty folder is a build that does not exist (yet), whatever the artifact: staging
    // "nothing" from it must not count as success.
    s = listing.objects.empty() ? Status::NotFound("no objects in " + ref_.archive_url)
                                : GuardPlugin(plugin, "Resolve", [&] {
                                    return plugin.Resolve(claim_.artifact, *folder, &names);
                                  });
    if (s.ok()) {
      needed->clear();
      for (const std::string& name : names) {
        auto it = by_name.find(name);
        if (it == by_name.end()) {
          return Status::Failed("plugin " + plugin.Name() + " asked for " + name +
                                ", which is not in " + ref_.archive_url);
        }
        s = deps_.listings->Describe(ref_, it->second);
        if (s.code() == Status::Code::kNotFound) {
          s = Status::NotFound(claim_.artifact + ": " +
                               BuildListings::ObjectOf(ref_, *it->second).Url() +
                               " is listed in UPLOADED but does not exist");
        }
        if (!s.ok()) break;
        needed->push_back(BuildListings::ObjectOf(ref_, *it->second));
      }
      if (s.ok()) return s;
    }
    // NotFound: not uploaded (yet). Look again until the configured wait is over.
    if (s.code() != Status::Code::kNotFound || deps_.env->MonotonicMicros() >= give_up_at ||
        Cancelled()) {
      return s;  // NotFound stays NotFound: the failure is recorded as "not_found"
    }
    Pause(deps_.object_poll);
  }
}

std::map<std::string, VerbatimSource> StageJob::VerbatimSources(
    const StagingInstallContext& ctx, const std::vector<ObjectInfo>& fetched) const {
  std::map<std::string, const ObjectInfo*> by_name;
  for (const ObjectInfo& info : fetched)
    by_name[info.name.substr(ref_.object_prefix.size() + 1)] = &info;
  std::map<std::string, VerbatimSource> sources;
  for (const auto& [path, object] : ctx.placed()) {
    auto it = by_name.find(object);
    if (it == by_name.end()) continue;
    sources[path] = {object, it->second->generation, static_cast<int64_t>(it->second->size)};
  }
  return sources;
}

Status StageJob::Download(const std::vector<ObjectInfo>& needed, const StagingInstallContext& ctx,
                          const Downloads& downloads) {
  // Dead stagers' directories go, after lending this staging their partial downloads.
  TempDirSweep sweep = SweepFor(deps_, claim_.build);
  sweep.own_token = claim_.token;
  sweep.artifact = claim_.artifact;
  sweep.adopt_into = temp_->fetch_dir();
  for (const ObjectInfo& info : needed) {
    const std::string relative = info.name.substr(ref_.object_prefix.size() + 1);
    sweep.generations[StagingInstallContext::FlatName(relative)] = info.generation;
  }
  std::map<std::string, uint64_t> adopted;
  SweepTempDirs(deps_.env, build_dir_, sweep, &adopted);

  int64_t total = 0;
  for (const ObjectInfo& info : needed) total += static_cast<int64_t>(info.size);
  lease_->ticket().SetTotal(total);
  done_before_ = 0;
  for (const ObjectInfo& info : needed) {
    if (Cancelled()) return Status::Failed("cancelled");
    const std::string relative = info.name.substr(ref_.object_prefix.size() + 1);
    const std::string path = ctx.FetchedPath(relative);
    const bool resume = adopted.count(StagingInstallContext::FlatName(relative)) != 0;
    downloading_ = downloads.at(relative).get();
    Status s = resume ? Status::Ok() : temp_->NoteGeneration(path, info.generation);
    bool filled = false;
    if (s.ok() && !resume && deps_.peer_fill != nullptr) {
      Status fill =
          deps_.peer_fill->Fetch(ref_.archive_url, ref_.object_prefix, relative, info, path, this);
      if (Cancelled()) return Status::Failed("cancelled");
      filled = fill.ok();
      if (!filled) {
        DS_LOG(kDebug) << fill.message();
        downloading_->Restart();  // whatever the peer sent is not the object
      }
    }
    if (s.ok() && !filled) s = deps_.store->FetchObject(info, path, this, resume);
    if (!s.ok() && resume && s.code() == Status::Code::kFailed && !Cancelled()) {
      // The adopted bytes did not add up to the object (a crash can leave a page of zeros
      // behind a dead stager's last write): once more, from the first byte.
      DS_LOG(kWarning) << "resumed download of " << info.Url() << " failed (" << s.message()
                       << "); downloading it whole";
      downloading_->Restart();
      s = deps_.store->Fetch(info, path, this);
    }
    if (!s.ok()) return s;
    downloading_->Finish(path, Status::Ok());
    done_before_ += static_cast<int64_t>(info.size);
  }
  lease_->ticket().SetProgress(done_before_);
  return Status::Ok();
}

std::unique_ptr<StagingInstallContext> StageJob::NewContext(const plugin::BuildFolder& folder) {
  return std::make_unique<StagingInstallContext>(deps_.env, temp_->fetch_dir(), temp_->out_dir(),
                                                 folder, ExtractLimitsOf(*deps_.config),
                                                 [this] { return Cancelled(); });
}

Status StageJob::DownloadAndInstall(const plugin::ArtifactPlugin& plugin,
                                    const std::vector<ObjectInfo>& needed,
                                    const plugin::BuildFolder& folder,
                                    std::unique_ptr<StagingInstallContext>* installed) {
  // The plugin installs while the objects download, so unpacking and hashing overlap the
  // transfer; what it asks of an object still arriving waits for it or is done once it is
  // verified (StagingInstallContext::FollowDownloads).
  Downloads downloads;
  for (const ObjectInfo& info : needed) {
    downloads[info.name.substr(ref_.object_prefix.size() + 1)] =
        std::make_shared<FetchProgress>(info.size);
  }
  std::unique_ptr<StagingInstallContext> ctx = NewContext(folder);
  ctx->FollowDownloads(downloads);

  std::mutex mu;
  bool download_over = false;
  Status downloaded;
  std::thread downloader([&] {
    Status s = Download(needed, *ctx, downloads);
    {
      // Recorded before any reader wakes up to it: a failed download is the cause of the
      // Install failure it brings about.
      const std::lock_guard<std::mutex> lock(mu);
      downloaded = s;
      download_over = true;
    }
    for (const auto& [name, progress] : downloads) {
      if (!progress->verified()) {
        progress->Finish("", s.ok() ? Status::Failed(name + " was not downloaded") : s);
      }
    }
  });
  Status s = GuardPlugin(plugin, "Install", [&] { return plugin.Install(claim_.artifact, *ctx); });
  bool download_failed_first = false;
  if (!s.ok()) {
    const std::lock_guard<std::mutex> lock(mu);
    download_failed_first = download_over && !downloaded.ok();
    // Unless it failed only because a download started over (it is run again once they end).
    if (!download_over && !ctx->MustInstallAgain()) install_failed_ = true;
  }
  downloader.join();
  if (download_failed_first) return downloaded;
  if (!s.ok() && !ctx->MustInstallAgain()) return s;
  if (!downloaded.ok()) return downloaded;
  if (ctx->MustInstallAgain()) {
    // An archive was unpacked from bytes its download then threw away: again, from the whole
    // objects, into an empty output directory.
    DS_LOG(kInfo) << claim_.build << " " << claim_.artifact
                  << ": a download started over while it was unpacked; installing again";
    s = temp_->ClearOutput();
    if (!s.ok()) return s;
    ctx = NewContext(folder);
    s = GuardPlugin(plugin, "Install", [&] { return plugin.Install(claim_.artifact, *ctx); });
    if (!s.ok()) return s;
  }
  s = ctx->Complete();
  if (!s.ok()) return s;
  *installed = std::move(ctx);
  return Status::Ok();
}

Status StageJob::Stage() {
  Status s = ParseArchiveUrl(claim_.archive_url, deps_.config->allowed_buckets, &ref_);
  if (!s.ok()) return s;
  if (ref_.folder != claim_.build) {
    // The default bucket (the first allowed one) changed since the build was asked for.
    return Status::Failed(claim_.archive_url + " no longer stages into " + claim_.build +
                          "; ask for it again");
  }
  const plugin::ArtifactPlugin* plugin = deps_.registry->Find(claim_.artifact);
  if (plugin == nullptr) return Status::Failed("no plugin stages this artifact");

  // Nothing is written until storage says what the artifact is made of.
  plugin::BuildFolder folder{ref_.archive_url, ref_.build, {}};
  std::vector<ObjectInfo> needed;
  s = Resolve(*plugin, &needed, &folder);
  if (!s.ok()) return s;

  build_dir_ = deps_.config->static_root + "/" + claim_.build;
  s = MakeDirectories(deps_.env, build_dir_, 0755);
  if (!s.ok()) return s;
  s = StagingTempDir::Create(deps_.env, build_dir_, claim_.token, claim_.artifact, &temp_);
  if (!s.ok()) return s;
  std::unique_ptr<StagingInstallContext> ctx;
  s = DownloadAndInstall(*plugin, needed, folder, &ctx);
  if (!s.ok()) return s;
  if (Cancelled()) return Status::Failed("cancelled");
  size_t files = 0;
  s = PublishOutput(deps_.env, deps_.db, claim_, temp_.get(), build_dir_, ctx->payloads(),
                    VerbatimSources(*ctx, needed), &files);
  if (!s.ok()) return s;
  DS_LOG(kInfo) << "staged " << claim_.build << " " << claim_.artifact << " (" << files
                << " files, " << done_before_ << " bytes downloaded)";
  return Status::Ok();
}

}  // namespace

Status RunStageJob(const StagingDeps& deps, const Claim& claim) {
  StageJob job(deps, claim);
  return job.Run();
}

int SweepBuild(const StagingDeps& deps, const std::string& build) {
  std::map<std::string, uint64_t> adopted;
  return SweepTempDirs(deps.env, deps.config->static_root + "/" + build, SweepFor(deps, build),
                       &adopted);
}

}  // namespace devserver
