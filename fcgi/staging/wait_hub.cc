#include "fcgi/staging/wait_hub.h"

#include "fcgi/base/log.h"
#include "fcgi/metrics/metrics.h"

namespace devserver {

using state::ArtifactState;
using state::ArtifactStatus;

bool AllSettled(const std::vector<ArtifactStatus>& statuses) {
  for (const ArtifactStatus& s : statuses) {
    if (s.state == ArtifactState::kQueued || s.state == ArtifactState::kStaging) return false;
  }
  return true;
}

WaitHub::WaitHub(state::StateDb* db, std::chrono::milliseconds interval)
    : db_(db), interval_(interval), poller_([this] { PollLoop(); }) {}

WaitHub::~WaitHub() {
  Shutdown();
  poller_.join();
}

void WaitHub::Poke() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    poked_ = true;
  }
  wake_.notify_one();
}

void WaitHub::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  changed_.notify_all();
}

Status WaitHub::WaitSettled(const std::string& build, const std::vector<std::string>& artifacts,
                            std::chrono::steady_clock::time_point deadline,
                            std::vector<ArtifactStatus>* statuses) {
  static metrics::Gauge waiters("devserver_waiters");
  const metrics::GaugeScope waiting(&waiters);
  std::unique_lock<std::mutex> lock(mu_);
  Interest& interest = interests_[build];
  for (const std::string& a : artifacts) interest.artifacts.insert(a);
  poked_ = true;  // a new waiter wants a fresh look, not one up to an interval old
  wake_.notify_one();

  const uint64_t registered_at = rounds_started_;
  Status result = Status::Ok();
  for (;;) {
    if (stopping_) {
      result = Status::Unavailable("devserver is shutting down; ask again");
      break;
    }
    auto snap = snapshot_.find(build);
    if (snap != snapshot_.end() && snap->second.round > registered_at) {
      statuses->clear();
      for (const std::string& a : artifacts) {
        auto it = snap->second.artifacts.find(a);
        ArtifactStatus status;
        status.artifact = a;
        if (it != snap->second.artifacts.end()) status = it->second;
        statuses->push_back(status);
      }
      if (AllSettled(*statuses)) break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      result = Status::Unavailable("timed out waiting for " + build);
      break;
    }
    changed_.wait_until(lock, deadline);
  }
  for (const std::string& a : artifacts) interest.artifacts.erase(interest.artifacts.find(a));
  if (interest.artifacts.empty()) interests_.erase(build);
  return result;
}

void WaitHub::PollLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    wake_.wait_for(lock, interval_, [&] { return stopping_ || poked_; });
    if (stopping_) break;
    poked_ = false;
    if (interests_.empty()) continue;
    std::map<std::string, std::vector<std::string>> wanted;
    for (const auto& [build, interest] : interests_) {
      std::set<std::string> unique(interest.artifacts.begin(), interest.artifacts.end());
      wanted[build].assign(unique.begin(), unique.end());
    }
    const uint64_t round = ++rounds_started_;
    // Read without holding the lock: waiters keep registering meanwhile.
    lock.unlock();
    std::map<std::string, std::map<std::string, ArtifactStatus>> fresh;
    for (const auto& [build, artifacts] : wanted) {
      std::vector<ArtifactStatus> statuses;
      Status s = db_->Get(build, artifacts, &statuses);
      if (!s.ok()) {
        DS_LOG(kWarning) << "waiters: reading state of " << build << ": " << s.message();
        continue;
      }
      for (ArtifactStatus& status : statuses) fresh[build][status.artifact] = std::move(status);
    }
    lock.lock();
    for (auto& [build, statuses] : fresh) snapshot_[build] = {round, std::move(statuses)};
    // Forget builds nobody waits on any more.
    for (auto it = snapshot_.begin(); it != snapshot_.end();) {
      it = interests_.count(it->first) != 0 ? std::next(it) : snapshot_.erase(it);
    }
    changed_.notify_all();
  }
}

}  // namespace devserver
