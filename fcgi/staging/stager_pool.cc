#include "fcgi/staging/stager_pool.h"

#include "fcgi/base/log.h"

namespace devserver {

StagerPool::StagerPool(const StagingDeps& deps, state::Owner owner, WaitHub* waiters, int threads,
                       std::chrono::milliseconds poll)
    : deps_(deps), owner_(std::move(owner)), waiters_(waiters), poll_(poll) {
  deps_.stopping = &stopping_;
  threads_.reserve(threads);
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

StagerPool::~StagerPool() {
  Stop();
  for (auto& t : threads_) t.join();
}

void StagerPool::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++wakes_;
  }
  wake_.notify_all();
}

void StagerPool::Drain() {
  draining_ = true;
  wake_.notify_all();
}

void StagerPool::Stop() {
  stopping_ = true;
  wake_.notify_all();
}

void StagerPool::Loop() {
  uint64_t seen = 0;
  while (!stopping_ && !draining_) {
    std::optional<state::Claim> claim;
    std::vector<state::Abandoned> abandoned;
    Status s = deps_.db->ClaimNext(owner_, deps_.config->max_concurrent, &claim, &abandoned);
    if (!s.ok()) DS_LOG(kWarning) << "claiming work: " << s.message();
    for (const state::Abandoned& a : abandoned) {
      DS_LOG(kWarning) << "gave up staging " << a.build << " " << a.artifact
                       << ": its attempts ran out";
      Sweep(a.build);
      waiters_->Poke();
    }
    if (s.ok() && claim && (draining_ || stopping_)) {
      // Claimed just as the worker began to drain or stop: work it must not start.
      Status released = deps_.db->Release(*claim);
      if (!released.ok()) DS_LOG(kWarning) << released.message();
      break;
    }
    if (s.ok() && claim) {
      ++busy_;
      DS_LOG(kInfo) << "staging " << claim->build << " " << claim->artifact << " (attempt "
                    << claim->attempts << ", token " << claim->token << ")";
      (void)RunStageJob(deps_, *claim);
      --busy_;
      waiters_->Poke();
      Sweep(claim->build);  // the job has let go of its directory's lock
      continue;             // there may be more
    }
    Sweep("");
    std::unique_lock<std::mutex> lock(mu_);
    wake_.wait_for(lock, poll_, [&] { return stopping_ || draining_ || wakes_ != seen; });
    seen = wakes_;
  }
}

void StagerPool::Sweep(const std::string& build) {
  std::set<std::string> builds;
  {
    std::lock_guard<std::mutex> lock(sweep_mu_);
    builds.swap(unswept_);
  }
  if (!build.empty()) builds.insert(build);
  for (const std::string& b : builds) {
    if (SweepBuild(deps_, b) == 0) continue;
    std::lock_guard<std::mutex> lock(sweep_mu_);
    unswept_.insert(b);
  }
}

}  // namespace devserver
