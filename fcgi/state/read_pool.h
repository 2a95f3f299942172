// A few read-only connections to the state file, shared by the threads of one process.
//
// Why: the writing connection sits behind StateDb's mutex, which stagers (claims, heartbeats,
// publishing) and the wait-hub poller also take, so every read queued behind whatever write
// was under way. Readers lease one of these instead and run in parallel with each other and
// with the writer. The file keeps its rollback journal, so a reader may find the file locked
// while a writer commits; the busy timeout makes it wait that out instead of failing.
//
// Like StateDb, a pool belongs to the process that opened it: never use it after fork().
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fcgi/base/status.h"
#include "fcgi/state/sqlite.h"

namespace devserver::state {

class ReadPool {
 public:
  // Opens `connections` (at least one) read-only connections to an existing database file.
  static Status Open(const std::string& path, int connections, int busy_timeout_ms,
                     std::unique_ptr<ReadPool>* pool);
  ReadPool(const ReadPool&) = delete;
  ReadPool& operator=(const ReadPool&) = delete;

  // One connection, for one thread, until the lease ends.
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();
    Connection* operator->() const { return connection_; }
    Connection* get() const { return connection_; }

   private:
    friend class ReadPool;
    Lease(ReadPool* pool, Connection* connection) : pool_(pool), connection_(connection) {}
    ReadPool* pool_;
    Connection* connection_;
  };

  // Waits for a free connection. Reads are short, so the wait is too.
  Lease Acquire();

  size_t size() const { return connections_.size(); }

 private:
  ReadPool() = default;
  void Release(Connection* connection);

  std::vector<std::unique_ptr<Connection>> connections_;
  std::mutex mu_;
  std::condition_variable freed_;
  std::vector<Connection*> idle_;
};

}  // namespace devserver::state
