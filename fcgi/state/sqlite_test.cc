// The SQLite wrapper: cached statements and read-only connections.
#include "fcgi/state/sqlite.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <utility>

#include "fcgi/state/statement_cache.h"
#include "tests/support/temp_dir.h"

namespace devserver::state {
namespace {

class SqliteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Connection::Open(path_, 1000, &db_).ok());
    ASSERT_TRUE(db_.Exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT);"
                         "INSERT INTO t VALUES (1, 'one'), (2, 'two'), (3, 'three');")
                    .ok());
  }

  // Leases `sql`, lets `use` bind and step it; the lease ends on return.
  template <typename Use>
  void WithCached(const std::string& sql, Use use) {
    LeasedStatement st;
    Status s = db_.Cached(sql, &st);
    ASSERT_TRUE(s.ok()) << s.message();
    use(*st);
  }
  static std::string FirstText(Statement& st) {
    bool row = false;
    EXPECT_TRUE(st.Step(&row).ok());
    EXPECT_TRUE(row);
    return row ? st.Text(0) : "";
  }

  testing::TempDir dir_{"devserver-sqlite"};
  std::string path_ = dir_.Sub("test.db");
  Connection db_;
};

TEST_F(SqliteTest, CachedStatementIsPreparedOnceAndTakesFreshBindingsEachUse) {
  const std::string sql = "SELECT v FROM t WHERE k = ?1";
  for (int64_t k : {1, 3, 2}) {
    WithCached(sql, [&](Statement& st) {
      st.Bind(1, k);
      EXPECT_EQ(FirstText(st), k == 1 ? "one" : k == 2 ? "two" : "three");
    });
  }
  EXPECT_EQ(db_.statement_cache().prepared(), 1);
  EXPECT_EQ(db_.statement_cache().size(), 1u);
}

TEST_F(SqliteTest, BindingsDoNotCarryOverToTheNextUse) {
  const std::string sql = "SELECT ?1 IS NULL";
  WithCached(sql, [&](Statement& st) {
    st.Bind(1, int64_t{7});
    bool row = false;
    ASSERT_TRUE(st.Step(&row).ok());
    EXPECT_EQ(st.Int(0), 0);
  });
  WithCached(sql, [&](Statement& st) {  // nothing bound this time
    bool row = false;
    ASSERT_TRUE(st.Step(&row).ok());
    EXPECT_EQ(st.Int(0), 1);
  });
}

TEST_F(SqliteTest, AStatementLeftMidwayStartsOverOnItsNextUse) {
  const std::string sql = "SELECT v FROM t ORDER BY k";
  WithCached(sql, [&](Statement& st) { EXPECT_EQ(FirstText(st), "one"); });
  WithCached(sql, [&](Statement& st) {
    EXPECT_EQ(FirstText(st), "one");
    EXPECT_EQ(FirstText(st), "two");
  });
}

TEST_F(SqliteTest, DifferentSqlGetsDifferentStatements) {
  for (int i = 0; i < 3; ++i) {
    WithCached("SELECT 'a'", [&](Statement& st) { EXPECT_EQ(FirstText(st), "a"); });
    WithCached("SELECT 'b'", [&](Statement& st) { EXPECT_EQ(FirstText(st), "b"); });
  }
  EXPECT_EQ(db_.statement_cache().size(), 2u);
  EXPECT_EQ(db_.statement_cache().prepared(), 2);
}

TEST_F(SqliteTest, TheSameSqlRunInsideItsOwnRowLoopGetsASecondStatement) {
  const std::string sql = "SELECT v FROM t ORDER BY k";
  WithCached(sql, [&](Statement& outer) {
    EXPECT_EQ(FirstText(outer), "one");
    WithCached(sql, [&](Statement& inner) { EXPECT_EQ(FirstText(inner), "one"); });
    EXPECT_EQ(FirstText(outer), "two");  // the inner use did not move or reset the outer cursor
  });
  EXPECT_EQ(db_.statement_cache().size(), 1u);
  EXPECT_EQ(db_.statement_cache().prepared(), 2);
  WithCached(sql, [&](Statement& st) { EXPECT_EQ(FirstText(st), "one"); });
  EXPECT_EQ(db_.statement_cache().prepared(), 2);  // the cached one is back
}

TEST_F(SqliteTest, AFailedStepLeavesTheCachedStatementUsable) {
  const std::string sql = "INSERT INTO t (k, v) VALUES (?1, 'x')";
  WithCached(sql, [&](Statement& st) { EXPECT_FALSE(st.Bind(1, int64_t{1}).Run().ok()); });
  WithCached(sql, [&](Statement& st) { EXPECT_TRUE(st.Bind(1, int64_t{4}).Run().ok()); });
  WithCached("SELECT count(*) FROM t", [&](Statement& st) { EXPECT_EQ(FirstText(st), "4"); });
}

TEST_F(SqliteTest, CachedStatementsFollowSchemaChanges) {
  const std::string sql = "SELECT * FROM t WHERE k = 1";
  WithCached(sql, [&](Statement& st) { EXPECT_EQ(FirstText(st), "1"); });
  ASSERT_TRUE(db_.Exec("DROP TABLE t; CREATE TABLE t (name TEXT, k INTEGER);"
                       "INSERT INTO t VALUES ('renamed', 1);")
                  .ok());
  WithCached(sql, [&](Statement& st) { EXPECT_EQ(FirstText(st), "renamed"); });
}

// A statement stopped before its last row holds a read lock until reset: the lease must
// reset it, or the next writer (here another connection, never waiting) could not commit.
TEST_F(SqliteTest, EndingALeaseReleasesTheReadLock) {
  Connection writer;
  ASSERT_TRUE(Connection::Open(path_, 0, &writer).ok());
  const std::string sql = "SELECT v FROM t ORDER BY k";
  {
    LeasedStatement st;
    ASSERT_TRUE(db_.Cached(sql, &st).ok());
    EXPECT_EQ(FirstText(*st), "one");
    // While it is out, the lock is held: the check below would pass for no reason otherwise.
    ASSERT_TRUE(writer.Exec("BEGIN IMMEDIATE; INSERT INTO t VALUES (10, 'ten');").ok());
    EXPECT_FALSE(writer.Exec("COMMIT;").ok());
    ASSERT_TRUE(writer.Exec("ROLLBACK;").ok());
  }
  EXPECT_TRUE(writer.Exec("BEGIN IMMEDIATE; INSERT INTO t VALUES (10, 'ten'); COMMIT;").ok());
}

// Transactions run on every request: their control statements come from the cache.
TEST_F(SqliteTest, TransactionsReuseTheirCachedControlStatements) {
  for (int i = 0; i < 3; ++i) {
    ReadTransaction read(&db_);
    ASSERT_TRUE(read.Begin().ok());
    ASSERT_TRUE(read.Commit().ok());
    WriteTransaction write(&db_);
    ASSERT_TRUE(write.Begin().ok());
    ASSERT_TRUE(db_.Exec("UPDATE t SET v = 'uno' WHERE k = 1;").ok());
    ASSERT_TRUE(write.Commit().ok());
  }
  {
    WriteTransaction rolled_back(&db_);
    ASSERT_TRUE(rolled_back.Begin().ok());
  }
  EXPECT_EQ(db_.statement_cache().prepared(), 4);   // BEGIN, COMMIT, BEGIN IMMEDIATE, ROLLBACK
  EXPECT_NE(sqlite3_get_autocommit(db_.raw()), 0);  // the rolled back one ended
}

// A read transaction begun inside another joins it: the outer one's snapshot holds until the
// outer commit, whatever the inner one does.
TEST_F(SqliteTest, AReadTransactionInsideAnotherJoinsIt) {
  Connection writer;
  ASSERT_TRUE(Connection::Open(path_, 0, &writer).ok());
  ReadTransaction outer(&db_);
  ASSERT_TRUE(outer.Begin().ok());
  WithCached("SELECT v FROM t WHERE k = 1",
             [&](Statement& st) { EXPECT_EQ(FirstText(st), "one"); });
  {
    ReadTransaction inner(&db_);
    ASSERT_TRUE(inner.Begin().ok());
    ASSERT_TRUE(inner.Commit().ok());
  }
  EXPECT_EQ(sqlite3_get_autocommit(db_.raw()), 0);  // still inside the outer one
  // The outer read lock still stands: a writer cannot commit over it (rollback journal).
  ASSERT_TRUE(writer.Exec("BEGIN IMMEDIATE; UPDATE t SET v = 'uno' WHERE k = 1;").ok());
  EXPECT_FALSE(writer.Exec("COMMIT;").ok());
  ASSERT_TRUE(writer.Exec("ROLLBACK;").ok());
  ASSERT_TRUE(outer.Commit().ok());
  EXPECT_NE(sqlite3_get_autocommit(db_.raw()), 0);
}

TEST_F(SqliteTest, AFullCachePreparesTheRestForOneUse) {
  StatementCache cache(2);
  for (int round = 0; round < 2; ++round) {
    for (const char* sql : {"SELECT 1", "SELECT 2", "SELECT 3"}) {
      LeasedStatement st;
      ASSERT_TRUE(cache.Lease(&db_, sql, &st).ok());
      EXPECT_EQ(FirstText(*st), std::string(sql).substr(7));
    }
  }
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.prepared(), 4);  // the first two once, the third on each use
}

TEST_F(SqliteTest, ReadingConnectionReadsButNeverWrites) {
  Connection reader;
  ASSERT_TRUE(Connection::OpenForReading(path_, 1000, &reader).ok());
  LeasedStatement st;
  ASSERT_TRUE(reader.Cached("SELECT count(*) FROM t", &st).ok());
  EXPECT_EQ(FirstText(*st), "3");
  EXPECT_FALSE(reader.Exec("INSERT INTO t VALUES (9, 'nine');").ok());
  // It never creates a file either.
  Connection nothing;
  EXPECT_FALSE(Connection::OpenForReading(dir_.Sub("absent.db"), 1000, &nothing).ok());
}

// The busy handler (BusyWait) waits for a lock while it is held, then gives up at the
// timeout with SQLITE_BUSY rather than waiting forever; a moved connection keeps it.
TEST_F(SqliteTest, ALockedFileIsWaitedForUntilTheTimeoutThenBusy) {
  ASSERT_TRUE(db_.Exec("BEGIN EXCLUSIVE;").ok());
  Connection opened;
  ASSERT_TRUE(Connection::Open(path_, 300, &opened).ok());
  Connection other = std::move(opened);
  const auto started = std::chrono::steady_clock::now();
  const Status s = other.Exec("BEGIN IMMEDIATE;");
  const auto waited = std::chrono::steady_clock::now() - started;
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("database is locked"), std::string::npos) << s.message();
  EXPECT_GE(waited, std::chrono::milliseconds(300));
  EXPECT_LT(waited, std::chrono::seconds(3));

  // Released while it waits: the waiter gets the lock, well before its timeout.
  Connection patient;
  ASSERT_TRUE(Connection::Open(path_, 20000, &patient).ok());
  auto released = std::async(std::launch::async, [&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the holder's work
    return db_.Exec("COMMIT;");
  });
  const auto again = std::chrono::steady_clock::now();
  const Status got = patient.Exec("BEGIN IMMEDIATE; COMMIT;");
  EXPECT_TRUE(got.ok()) << got.message();
  EXPECT_TRUE(released.get().ok());
  EXPECT_LT(std::chrono::steady_clock::now() - again, std::chrono::seconds(5));
}

}  // namespace
}  // namespace devserver::state
