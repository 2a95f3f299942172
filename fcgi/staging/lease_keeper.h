// LeaseKeeper: renews the lease of every claim this worker holds, from one thread, whatever
// its stager is doing.
//
// A stager spends long stretches without bytes to report: waiting for a slow response head,
// backing off before a retry, unpacking a multi-GiB image for minutes, fsyncing. Renewing the
// lease from its progress would let the lease run out then, and another stager would take the
// artifact over and start again from the beginning, in an endless loop. So the keeper renews
// every registered claim each interval, and writes the progress the stager last reported.
// A claim the renewal finds taken over (the stager was paused past its lease, or its worker's
// heartbeats could not reach the database) is marked lost: the stager's cancellation polls see
// it and stop.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "fcgi/state/state_db.h"

namespace devserver {

class LeaseKeeper {
 public:
  // What a stager and the keeper share about one claim.
  class Ticket {
   public:
    explicit Ticket(state::Claim claim) : claim_(std::move(claim)) {}
    const state::Claim& claim() const { return claim_; }
    void SetProgress(int64_t done) { done_ = done; }
    void SetTotal(int64_t total) { total_ = total; }
    int64_t progress() const { return done_; }
    std::optional<int64_t> total() const {
      const int64_t t = total_;
      return t >= 0 ? std::optional<int64_t>(t) : std::nullopt;
    }
    // Another owner holds the claim now.
    bool lost() const { return lost_; }
    void MarkLost() { lost_ = true; }

   private:
    const state::Claim claim_;
    std::atomic<int64_t> done_{0};
    std::atomic<int64_t> total_{-1};
    std::atomic<bool> lost_{false};
  };

  // Registered for as long as it lives: the claim's lease is renewed until it goes away.
  class Registration {
   public:
    Registration(LeaseKeeper* keeper, std::shared_ptr<Ticket> ticket)
        : keeper_(keeper), ticket_(std::move(ticket)) {}
    ~Registration() { keeper_->Unregister(ticket_.get()); }
    Registration(const Registration&) = delete;
    Registration& operator=(const Registration&) = delete;
    Ticket& ticket() const { return *ticket_; }

   private:
    LeaseKeeper* keeper_;
    std::shared_ptr<Ticket> ticket_;
  };

  // Renews every `interval` (well inside the lease).
  LeaseKeeper(state::StateDb* db, std::chrono::milliseconds interval);
  ~LeaseKeeper();  // stops renewing and joins
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  std::unique_ptr<Registration> Register(const state::Claim& claim);
  // Renews every registered claim now (tests; the thread does this each interval).
  void RenewNow();

 private:
  void Unregister(const Ticket* ticket);
  void Loop();

  state::StateDb* const db_;
  const std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::vector<std::shared_ptr<Ticket>> tickets_;
  std::mutex renew_mu_;  // one renewal at a time (the thread, or RenewNow)
  std::thread thread_;
};

}  // namespace devserver
