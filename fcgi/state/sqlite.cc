#include "fcgi/state/sqlite.h"

#include <mutex>
#include <utility>

#include "fcgi/state/statement_cache.h"

namespace devserver::state {
namespace {

// Debian's SQLite is built without lookaside memory, so every small allocation goes through
// sqlite3_malloc, which by default takes a process-wide mutex to keep memory statistics that
// nothing here reads: the request threads' reads queued on it. Must precede the library's
// initialisation (the first open); if something initialised it first, the call fails
// harmlessly and the statistics stay on.
void ConfigureLibraryOnce() {
  static std::once_flag once;
  std::call_once(once, [] { (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
}

}  // namespace

Status Connection::Open(const std::string& path, int busy_timeout_ms, Connection* out) {
  return OpenWith(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, busy_timeout_ms,
                  "PRAGMA foreign_keys = ON;", out);
}

Status Connection::OpenForReading(const std::string& path, int busy_timeout_ms, Connection* out) {
  return OpenWith(path, SQLITE_OPEN_READWRITE, busy_timeout_ms, "PRAGMA query_only = ON;", out);
}

Status Connection::OpenWith(const std::string& path, int flags, int busy_timeout_ms,
                            const char* setup_sql, Connection* out) {
  ConfigureLibraryOnce();
  sqlite3* db = nullptr;
  // NOMUTEX: a Connection is guarded by its owner's mutex; SQLite's own would be redundant.
  int rc = sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Status::Failed("cannot open state database " + path + ": " + message);
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, busy_timeout_ms);
  Connection connection;
  connection.db_ = db;
  connection.cache_ = std::make_unique<StatementCache>();
  Status s = connection.Exec(setup_sql);
  if (!s.ok()) return s;
  *out = std::move(connection);
  return Status::Ok();
}

Connection::Connection() = default;

Connection::Connection(Connection&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), cache_(std::move(other.cache_)) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    Close();
    db_ = std::exchange(other.db_, nullptr);
    cache_ = std::move(other.cache_);
  }
  return *this;
}

Connection::~Connection() { Close(); }

void Connection::Close() {
  cache_.reset();
  sqlite3_close(db_);
  db_ = nullptr;
}

Status Connection::Exec(const std::string& sql) {
  char* message = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
  if (rc == SQLITE_OK) return Status::Ok();
  std::string text = message != nullptr ? message : sqlite3_errstr(rc);
  sqlite3_free(message);
  return Status::Failed("state database: " + text + " (" + sqlite3_errstr(rc) + ")");
}

Status Connection::Prepare(const std::string& sql, Statement* out) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) !=
      SQLITE_OK) {
    return Error("preparing '" + sql + "'");
  }
  Statement prepared;
  prepared.db_ = db_;
  prepared.stmt_ = stmt;
  prepared.sql_ = sql;
  *out = std::move(prepared);
  return Status::Ok();
}

Status Connection::Cached(const std::string& sql, LeasedStatement* out) {
  if (cache_ == nullptr) return Status::Failed("state database: connection is not open");
  return cache_->Lease(this, sql, out);
}

Status Connection::Error(const std::string& what) const {
  return Status::Failed("state database: " + what + ": " + sqlite3_errmsg(db_) + " (" +
                        sqlite3_errstr(sqlite3_extended_errcode(db_)) + ")");
}

Statement::Statement(Statement&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      stmt_(std::exchange(other.stmt_, nullptr)),
      sql_(std::move(other.sql_)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = std::exchange(other.db_, nullptr);
    stmt_ = std::exchange(other.stmt_, nullptr);
    sql_ = std::move(other.sql_);
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::Bind(int index, int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Statement& Statement::Bind(int index, const std::string& value) {
  sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::BindNull(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

Statement& Statement::Bind(int index, const std::optional<int64_t>& value) {
  return value.has_value() ? Bind(index, *value) : BindNull(index);
}

Status Statement::Step(bool* row) {
  int rc = sqlite3_step(stmt_);
  *row = rc == SQLITE_ROW;
  if (rc == SQLITE_ROW || rc == SQLITE_DONE) return Status::Ok();
  Status s = Status::Failed("state database: running '" + sql_ + "': " + sqlite3_errmsg(db_) +
                            " (" + sqlite3_errstr(rc) + ")");
  sqlite3_reset(stmt_);
  return s;
}

Status Statement::Run() {
  bool row = true;
  while (row) {
    Status s = Step(&row);
    if (!s.ok()) return s;
  }
  Reset();
  return Status::Ok();
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int64_t Statement::Int(int column) const { return sqlite3_column_int64(stmt_, column); }

std::optional<int64_t> Statement::OptionalInt(int column) const {
  if (sqlite3_column_type(stmt_, column) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_int64(stmt_, column);
}

std::string Statement::Text(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return "";
  return {reinterpret_cast<const char*>(text),
          static_cast<size_t>(sqlite3_column_bytes(stmt_, column))};
}

bool Statement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

WriteTransaction::~WriteTransaction() {
  if (open_) (void)db_->Exec("ROLLBACK;");
}

Status WriteTransaction::Begin() {
  Status s = db_->Exec("BEGIN IMMEDIATE;");
  open_ = s.ok();
  return s;
}

Status WriteTransaction::Commit() {
  Status s = db_->Exec("COMMIT;");
  if (s.ok()) open_ = false;
  return s;
}

ReadTransaction::~ReadTransaction() {
  if (open_) (void)db_->Exec("ROLLBACK;");
}

Status ReadTransaction::Begin() {
  Status s = db_->Exec("BEGIN;");
  open_ = s.ok();
  return s;
}

Status ReadTransaction::Commit() {
  Status s = db_->Exec("COMMIT;");
  if (s.ok()) open_ = false;
  return s;
}

}  // namespace devserver::state
