// Prepared statements kept per connection and reused, keyed by their SQL text.
//
// Parsing and planning SQL cost more than running it: before this cache a /is_staged request
// prepared three statements to run each once. A statement is leased for one use; when the
// lease ends it is reset (ending its implicit read transaction, so no lock outlives the use)
// and its bindings cleared, so the next user starts from a clean statement.
//
// Like its connection, a cache is used by one thread at a time (its owner's lock or lease).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "fcgi/base/status.h"
#include "fcgi/state/sqlite.h"

namespace devserver::state {

class LeasedStatement;

class StatementCache {
 public:
  // Beyond `capacity` distinct texts, statements are prepared for one use and finalized: a
  // caller generating SQL without bound cannot grow the cache without bound.
  static constexpr size_t kDefaultCapacity = 128;
  explicit StatementCache(size_t capacity = kDefaultCapacity) : capacity_(capacity) {}
  StatementCache(const StatementCache&) = delete;
  StatementCache& operator=(const StatementCache&) = delete;

  // Leases the statement for `sql` on `db`, preparing it on first use. While a lease of the
  // same text is still out (a statement run inside another's row loop), the second lease
  // gets a statement of its own, so neither disturbs the other's cursor.
  Status Lease(Connection* db, const std::string& sql, LeasedStatement* out);

  size_t size() const { return entries_.size(); }
  // Statements prepared so far, cached or not: what tests watch to see reuse.
  int64_t prepared() const { return prepared_; }
  // Finalizes every statement; none may be leased. The connection does this before closing.
  void Clear() { entries_.clear(); }

 private:
  friend class LeasedStatement;
  struct Entry {
    Statement statement;
    bool leased = false;
  };

  size_t capacity_;
  int64_t prepared_ = 0;
  // Nodes of an unordered_map keep their address on rehash, so a lease may point at one.
  std::unordered_map<std::string, Entry> entries_;
};

// One use of a statement: reset and handed back to its cache (or finalized, if it was
// prepared for this use only) when the lease ends.
class LeasedStatement {
 public:
  LeasedStatement() = default;
  LeasedStatement(LeasedStatement&& other) noexcept;
  LeasedStatement& operator=(LeasedStatement&& other) noexcept;
  LeasedStatement(const LeasedStatement&) = delete;
  LeasedStatement& operator=(const LeasedStatement&) = delete;
  ~LeasedStatement() { Return(); }

  Statement& operator*() { return entry_ != nullptr ? entry_->statement : own_; }
  Statement* operator->() { return &**this; }

 private:
  friend class StatementCache;
  void Return();

  StatementCache::Entry* entry_ = nullptr;  // a cached statement, marked leased
  Statement own_;                           // or one prepared for this use only
};

}  // namespace devserver::state
