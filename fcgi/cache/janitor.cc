#include "fcgi/cache/janitor.h"

#include "fcgi/base/fs.h"
#include "fcgi/base/log.h"

namespace devserver {

std::string EvictionLockPath(const Config& config) { return config.state_dir + "/evict.lock"; }

Janitor::Janitor(Evictor* evictor, const EvictionBudget& budget, std::string lock_path,
                 std::chrono::milliseconds interval)
    : evictor_(evictor),
      budget_(budget),
      lock_path_(std::move(lock_path)),
      interval_(interval),
      thread_(&Janitor::Loop, this) {}

Janitor::~Janitor() { Stop(); }

void Janitor::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Janitor::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    Round();
    ++rounds_;
    lock.lock();
    wake_.wait_for(lock, interval_, [this] { return stopping_; });
  }
}

void Janitor::Round() {
  ExclusiveFileLock host_lock;
  bool held = false;
  Status s = host_lock.Lock(lock_path_, /*wait=*/false, &held);
  if (!s.ok()) {
    DS_LOG(kWarning) << "eviction skipped: " << s.message();
    return;
  }
  if (!held) return;  // another worker's janitor, or devserverctl gc, is at it
  int leftovers = evictor_->RemoveLeftovers();
  if (leftovers > 0) DS_LOG(kInfo) << "removed " << leftovers << " trees of interrupted evictions";
  EvictionReport report;
  s = evictor_->Run(budget_, /*dry_run=*/false, &report);
  if (!s.ok()) {
    DS_LOG(kWarning) << "eviction failed: " << s.message();
    return;
  }
  if (!report.evicted.empty()) {
    DS_LOG(kInfo) << "evicted " << report.evicted.size() << " builds, " << report.bytes_freed
                  << " bytes, of " << report.bytes_to_free << " asked by the budget";
  }
  if (report.ShortOfBudget() && !was_short_) {
    DS_LOG(kWarning) << "cache over budget by " << report.bytes_to_free - report.bytes_freed
                     << " bytes, and every build left is staging, queued or used within the "
                        "last "
                     << budget_.grace_seconds << " s ([cache] eviction_grace)";
  }
  was_short_ = report.ShortOfBudget();
}

}  // namespace devserver
