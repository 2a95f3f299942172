#include "fcgi/staging/lease_keeper.h"

#include <algorithm>

#include "fcgi/base/log.h"

namespace devserver {

LeaseKeeper::LeaseKeeper(state::StateDb* db, std::chrono::milliseconds interval)
    : db_(db), interval_(interval), thread_([this] { Loop(); }) {}

LeaseKeeper::~LeaseKeeper() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

std::unique_ptr<LeaseKeeper::Registration> LeaseKeeper::Register(const state::Claim& claim) {
  auto ticket = std::make_shared<Ticket>(claim);
  {
    std::lock_guard<std::mutex> lock(mu_);
    tickets_.push_back(ticket);
  }
  return std::make_unique<Registration>(this, std::move(ticket));
}

void LeaseKeeper::Unregister(const Ticket* ticket) {
  std::lock_guard<std::mutex> lock(mu_);
  tickets_.erase(
      std::remove_if(tickets_.begin(), tickets_.end(),
                     [&](const std::shared_ptr<Ticket>& t) { return t.get() == ticket; }),
      tickets_.end());
}

void LeaseKeeper::RenewNow() {
  std::lock_guard<std::mutex> renewing(renew_mu_);
  std::vector<std::shared_ptr<Ticket>> tickets;
  {
    std::lock_guard<std::mutex> lock(mu_);
    tickets = tickets_;
  }
  std::vector<state::Beat> beats;
  beats.reserve(tickets.size());
  for (const auto& t : tickets) {
    if (!t->lost()) beats.push_back({t->claim(), t->progress(), t->total()});
  }
  if (beats.empty()) return;
  std::vector<bool> lost;
  Status s = db_->HeartbeatAll(beats, &lost);
  if (!s.ok()) {
    // The lease outlasts a few missed beats; the next interval tries again.
    DS_LOG(kWarning) << "renewing " << beats.size() << " leases: " << s.message();
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  size_t b = 0;
  for (const auto& t : tickets) {
    if (t->lost()) continue;
    // A claim published (or failed) and let go since the snapshot is no longer "staging": not
    // lost, just done.
    const bool registered = std::find(tickets_.begin(), tickets_.end(), t) != tickets_.end();
    if (lost[b++] && registered) {
      DS_LOG(kWarning) << "claim " << t->claim().token << " of " << t->claim().build << " "
                       << t->claim().artifact << " was taken over by another owner";
      t->MarkLost();
    }
  }
}

void LeaseKeeper::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    wake_.wait_for(lock, interval_, [&] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    RenewNow();
    lock.lock();
  }
}

}  // namespace devserver
