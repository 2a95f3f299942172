// Batcher: items handed over by many threads, given to a writer in batches from a thread of
// its own, so that a burst of small writes (a log line per request) costs one transaction.
//
// Items wait at most `interval` (or until `max_items` are waiting). Flush() writes what is
// waiting before it returns, for a reader that must see its own writes. A failed write is
// logged by the writer's caller (the returned Status) and its items are dropped: a batch is
// bookkeeping, never the service's state. Stop() (and the destructor) writes what is left.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "fcgi/base/log.h"
#include "fcgi/base/status.h"

namespace devserver {

template <typename T>
class Batcher {
 public:
  using Writer = std::function<Status(const std::vector<T>&)>;

  Batcher(Writer writer, std::chrono::milliseconds interval, size_t max_items)
      : writer_(std::move(writer)),
        interval_(interval),
        max_items_(max_items),
        thread_([this] { Loop(); }) {}
  ~Batcher() { Stop(); }
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  void Add(T item) {
    std::lock_guard<std::mutex> lock(mu_);
    waiting_.push_back(std::move(item));
    if (waiting_.size() >= max_items_) wake_.notify_all();
  }

  // Writes what is waiting now.
  void Flush() {
    std::lock_guard<std::mutex> write_lock(write_mu_);
    WriteWaiting();
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
    Flush();
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      wake_.wait_for(lock, interval_,
                     [this] { return stopping_ || waiting_.size() >= max_items_; });
      lock.unlock();
      Flush();
      lock.lock();
    }
  }

  void WriteWaiting() {
    std::vector<T> batch;
    {
      std::lock_guard<std::mutex> lock(mu_);
      batch.swap(waiting_);
    }
    if (batch.empty()) return;
    Status s = writer_(batch);
    if (!s.ok()) DS_LOG(kWarning) << "dropped " << batch.size() << " log entries: " << s.message();
  }

  const Writer writer_;
  const std::chrono::milliseconds interval_;
  const size_t max_items_;
  std::mutex write_mu_;  // one batch written at a time, in order
  std::mutex mu_;
  std::condition_variable wake_;
  std::vector<T> waiting_;
  bool stopping_ = false;
  std::thread thread_;  // last: it starts once the rest is ready
};

}  // namespace devserver
