#include "fcgi/state/sqlite.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <utility>

#include "fcgi/metrics/metrics.h"
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

// How a connection waits for a lock another connection holds (any process).
//
// Not sqlite3_busy_timeout(): SQLite's own handler sleeps in steps that grow to 100 ms (1, 2,
// 5, 10, 15, 20, 25, 25, 25, 50, 50, 100, 100, ... ms), and lock waiters do not queue: whoever
// tries while the lock is free takes it. A connection asleep for 100 ms while a dozen others
// take turns loses again and again, and a writer that holds PENDING while it waits for readers
// to leave keeps every new reader out for its whole sleep. state_contention_test (16
// processes, one file) measured with it: on tmpfs 400-440 cycles/s and single writes waiting
// up to 5.7 s; on the CI disk writes waiting 27-44 s, so a live stager's lease ran out while
// it waited (its heartbeat failed "claim lost to another owner") and a starting worker failed
// to open the database. With this handler, same load: 1100-1160 cycles/s, slowest write
// 0.3 s on tmpfs; no failure on disk. The pause is short (at most 10 ms) and random (so that
// waiters do not retry in step); a retry is one fcntl() lock attempt, cheap next to a commit.
class BusyWait {
 public:
  explicit BusyWait(int timeout_ms)
      : timeout_micros_(int64_t{timeout_ms} * 1000),
        random_(static_cast<uint64_t>(reinterpret_cast<uintptr_t>(this)) ^
                static_cast<uint64_t>(NowMicros()) ^ 0x9e3779b97f4a7c15ULL) {}

  // sqlite3_busy_handler's callback: `count` is 0 on the first call of each wait. Returns 0
  // (give up: SQLITE_BUSY) once the wait has lasted the timeout.
  static int Handle(void* self, int count) {
    auto* wait = static_cast<BusyWait*>(self);
    const int64_t now = NowMicros();
    if (count == 0) {
      wait->started_micros_ = now;
      metrics::Add("devserver_sqlite_busy_waits_total");
    }
    if (now - wait->started_micros_ >= wait->timeout_micros_) return 0;
    // The window doubles from 100 us up to 10 ms; the pause is a random point in its upper half.
    const int64_t window = std::min<int64_t>(int64_t{100} << std::min(count, 7), 10'000);
    const auto pause = static_cast<long>(
        window / 2 + static_cast<int64_t>(wait->Next() % static_cast<uint64_t>(window / 2 + 1)));
    const struct timespec ts = {0, pause * 1000};
    nanosleep(&ts, nullptr);
    return 1;
  }

 private:
  static int64_t NowMicros() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  uint64_t Next() {  // xorshift64: no locks, no shared state
    random_ ^= random_ << 13;
    random_ ^= random_ >> 7;
    random_ ^= random_ << 17;
    return random_;
  }

  const int64_t timeout_micros_;
  int64_t started_micros_ = 0;
  uint64_t random_;
};

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
  Connection connection;
  connection.db_ = db;
  connection.busy_ = std::make_unique<BusyWait>(busy_timeout_ms);
  sqlite3_busy_handler(db, &BusyWait::Handle, connection.busy_.get());
  connection.cache_ = std::make_unique<StatementCache>();
  Status s = connection.Exec(setup_sql);
  if (!s.ok()) return s;
  *out = std::move(connection);
  return Status::Ok();
}

Connection::Connection() = default;

Connection::Connection(Connection&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      cache_(std::move(other.cache_)),
      busy_(std::move(other.busy_)) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    Close();
    db_ = std::exchange(other.db_, nullptr);
    cache_ = std::move(other.cache_);
    busy_ = std::move(other.busy_);
  }
  return *this;
}

Connection::~Connection() { Close(); }

void Connection::Close() {
  cache_.reset();
  sqlite3_close(db_);
  db_ = nullptr;
  busy_.reset();  // after the handle that calls it
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

namespace {

// Transaction control runs on every request: from the statement cache, not parsed each time.
Status RunCached(Connection* db, const char* sql) {
  LeasedStatement stmt;
  Status s = db->Cached(sql, &stmt);
  return s.ok() ? stmt->Run() : s;
}

}  // namespace

WriteTransaction::~WriteTransaction() {
  if (open_) (void)RunCached(db_, "ROLLBACK");
}

Status WriteTransaction::Begin() {
  Status s = RunCached(db_, "BEGIN IMMEDIATE");
  open_ = s.ok();
  return s;
}

Status WriteTransaction::Commit() {
  Status s = RunCached(db_, "COMMIT");
  if (s.ok()) open_ = false;
  return s;
}

ReadTransaction::~ReadTransaction() {
  if (open_) (void)RunCached(db_, "ROLLBACK");
}

Status ReadTransaction::Begin() {
  if (sqlite3_get_autocommit(db_->raw()) == 0) return Status::Ok();  // joins the open one
  Status s = RunCached(db_, "BEGIN");
  open_ = s.ok();
  return s;
}

Status ReadTransaction::Commit() {
  if (!open_) return Status::Ok();
  Status s = RunCached(db_, "COMMIT");
  if (s.ok()) open_ = false;
  return s;
}

}  // namespace devserver::state
