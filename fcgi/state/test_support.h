// Test doubles for the state layer's seams: a clock that moves only when told, and owners
// that are alive or dead by declaration.
#pragma once

#include <atomic>
#include <mutex>
#include <set>
#include <string>

#include "fcgi/base/env.h"
#include "fcgi/state/liveness.h"

namespace devserver::state {

class ManualClockEnv : public Env {
 public:
  int64_t MonotonicMicros() override { return now_ * 1'000'000; }
  int64_t WallSeconds() override { return now_; }
  Status Disk(const std::string& path, DiskSpace* space) override {
    return Default()->Disk(path, space);
  }
  void Advance(int64_t seconds) { now_ += seconds; }

 private:
  std::atomic<int64_t> now_{1'700'000'000};
};

class DeclaredLiveness : public Liveness {
 public:
  bool IsAlive(const std::string& lock_path) override {
    std::lock_guard<std::mutex> lock(mu_);
    return alive_.count(lock_path) > 0;
  }
  void SetAlive(const std::string& lock_path, bool alive) {
    std::lock_guard<std::mutex> lock(mu_);
    if (alive) {
      alive_.insert(lock_path);
    } else {
      alive_.erase(lock_path);
    }
  }

 private:
  std::mutex mu_;
  std::set<std::string> alive_;
};

}  // namespace devserver::state
