// A thin RAII layer over the SQLite C API, used only inside state/.
//
// It exists to turn SQLite's return codes into Status values that carry the failing SQL's
// purpose and SQLite's own message, and to make transactions impossible to leave open.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "fcgi/base/status.h"

namespace devserver::state {

class BusyWait;
class Statement;
class StatementCache;
class LeasedStatement;

class Connection {
 public:
  // Opens (creating if needed) the database file; sets foreign keys, and makes a call that
  // finds the file locked wait up to `busy_timeout_ms` for it (see BusyWait in sqlite.cc).
  static Status Open(const std::string& path, int busy_timeout_ms, Connection* out);
  // Opens an existing database file for reading only (PRAGMA query_only). The file is still
  // opened read-write: a read-only handle that finds the hot journal of a crashed writer fails
  // (SQLITE_READONLY_ROLLBACK) instead of rolling it back.
  static Status OpenForReading(const std::string& path, int busy_timeout_ms, Connection* out);

  Connection();  // not open; defined where StatementCache is complete
  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Runs one or more statements that return no rows.
  Status Exec(const std::string& sql);
  // A statement prepared for this one use.
  Status Prepare(const std::string& sql, Statement* out);
  // The connection's cached statement for `sql` (see StatementCache): what repeated SQL uses.
  Status Cached(const std::string& sql, LeasedStatement* out);
  const StatementCache& statement_cache() const { return *cache_; }
  sqlite3* raw() const { return db_; }
  int64_t Changes() const { return sqlite3_changes64(db_); }

  // "<what>: <sqlite message> (<code name>)", for the last failed call.
  Status Error(const std::string& what) const;

 private:
  static Status OpenWith(const std::string& path, int flags, int busy_timeout_ms,
                         const char* setup_sql, Connection* out);
  void Close();

  sqlite3* db_ = nullptr;
  // Behind a pointer so that leases stay valid when the connection moves; finalized before
  // the handle closes (sqlite3_close refuses a handle with live statements).
  std::unique_ptr<StatementCache> cache_;
  // The busy handler's state; SQLite holds its address, so it must not move either.
  std::unique_ptr<BusyWait> busy_;
};

class Statement {
 public:
  Statement() = default;
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Parameters are numbered from 1, as in SQL's ?1.
  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, const std::string& value);
  Statement& BindNull(int index);
  Statement& Bind(int index, const std::optional<int64_t>& value);

  // Steps once: *row is true when a row is available.
  Status Step(bool* row);
  // Steps to completion, ignoring rows.
  Status Run();
  // Resets for reuse with new bindings.
  void Reset();

  int64_t Int(int column) const;
  std::optional<int64_t> OptionalInt(int column) const;
  std::string Text(int column) const;
  bool IsNull(int column) const;

 private:
  friend class Connection;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;
};

// BEGIN IMMEDIATE ... COMMIT. The write lock is taken at BEGIN, so a transaction never reads
// and then fails to upgrade to writing; destruction without Commit() rolls back.
class WriteTransaction {
 public:
  explicit WriteTransaction(Connection* db) : db_(db) {}
  WriteTransaction(const WriteTransaction&) = delete;
  WriteTransaction& operator=(const WriteTransaction&) = delete;
  ~WriteTransaction();

  Status Begin();
  Status Commit();

 private:
  Connection* db_;
  bool open_ = false;
};

// BEGIN (deferred) ... COMMIT around reads that must see one snapshot; never used to write
// (a deferred transaction that writes can fail to upgrade). Destruction without Commit()
// rolls back. Begun inside another transaction of the connection, it joins that one: Begin
// and Commit do nothing, and its reads see the outer snapshot.
class ReadTransaction {
 public:
  explicit ReadTransaction(Connection* db) : db_(db) {}
  ReadTransaction(const ReadTransaction&) = delete;
  ReadTransaction& operator=(const ReadTransaction&) = delete;
  ~ReadTransaction();

  Status Begin();
  Status Commit();

 private:
  Connection* db_;
  bool open_ = false;
};

}  // namespace devserver::state
