#include "fcgi/state/migrations.h"

#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"

namespace devserver::state {
namespace {

class MigrationsTest : public ::testing::Test {
 protected:
  int64_t Scalar(Connection* db, const std::string& sql) {
    Statement st;
    EXPECT_TRUE(db->Prepare(sql, &st).ok()) << sql;
    bool row = false;
    EXPECT_TRUE(st.Step(&row).ok());
    return row ? st.Int(0) : -1;
  }
  testing::TempDir dir_{"devserver-migrations"};
};

TEST_F(MigrationsTest, FreshFileGetsTheWholeSchemaAndItsVersion) {
  Connection db;
  ASSERT_TRUE(Connection::Open(dir_.Sub("state.db"), 1000, &db).ok());
  ASSERT_TRUE(Migrate(&db).ok());
  EXPECT_EQ(Scalar(&db, "PRAGMA user_version"), LatestSchemaVersion());
  EXPECT_GE(LatestSchemaVersion(), 1);
  // Every documented view answers.
  for (const char* view : {"staged", "staging", "queued", "failed", "build_usage"}) {
    EXPECT_EQ(Scalar(&db, std::string("SELECT count(*) FROM ") + view), 0) << view;
  }
  EXPECT_EQ(Scalar(&db, "SELECT value FROM counters WHERE name = 'fencing'"), 0);
}

TEST_F(MigrationsTest, ReapplyingIsANoOp) {
  Connection db;
  ASSERT_TRUE(Connection::Open(dir_.Sub("state.db"), 1000, &db).ok());
  ASSERT_TRUE(Migrate(&db).ok());
  ASSERT_TRUE(db.Exec("INSERT INTO builds VALUES ('b/1', 'gs://x/b/1', 1, 1);").ok());
  ASSERT_TRUE(Migrate(&db).ok());
  EXPECT_EQ(Scalar(&db, "SELECT count(*) FROM builds"), 1);
}

TEST_F(MigrationsTest, NewerFileIsRefused) {
  Connection db;
  ASSERT_TRUE(Connection::Open(dir_.Sub("state.db"), 1000, &db).ok());
  ASSERT_TRUE(db.Exec("PRAGMA user_version = " + std::to_string(LatestSchemaVersion() + 1)).ok());
  Status s = Migrate(&db);
  EXPECT_EQ(s.code(), Status::Code::kFailed);
  EXPECT_NE(s.message().find("is newer than this devserver knows"), std::string::npos)
      << s.message();
}

// A file written by version 1 (one owner per path) keeps every row through version 2, whose
// files table lets several artifacts list one path.
TEST_F(MigrationsTest, VersionOneFileKeepsItsRowsAndLetsArtifactsSharePaths) {
  Connection db;
  ASSERT_TRUE(Connection::Open(dir_.Sub("state.db"), 1000, &db).ok());
  ASSERT_TRUE(db.Exec(kMigrations[0].sql).ok());
  ASSERT_TRUE(db.Exec("PRAGMA user_version = 1;").ok());
  ASSERT_TRUE(db.Exec("INSERT INTO builds VALUES ('b/1', 'gs://x/b/1', 1, 1);"
                      "INSERT INTO artifacts (build, artifact, state, requested_at, token) "
                      "  VALUES ('b/1', 'symbols', 'staged', 1, 7), "
                      "         ('b/1', 'symbols_only', 'staged', 1, 8);"
                      "INSERT INTO files VALUES ('b/1', 'symbols', 'debug/a.sym', 10, NULL, NULL),"
                      "  ('b/1', 'symbols', 'debug/b.sym', 5, NULL, 'h');")
                  .ok());
  ASSERT_TRUE(Migrate(&db).ok());
  EXPECT_EQ(Scalar(&db, "PRAGMA user_version"), LatestSchemaVersion());
  EXPECT_EQ(Scalar(&db, "SELECT count(*) FROM files WHERE sha256 = 'h' AND size = 5"), 1);
  ASSERT_TRUE(db.Exec("INSERT INTO files (build, artifact, path, size) "
                      "VALUES ('b/1', 'symbols_only', 'debug/a.sym', 10);")
                  .ok());
  // The shared file counts once.
  EXPECT_EQ(Scalar(&db, "SELECT bytes FROM build_usage WHERE build = 'b/1'"), 15);
  // Forgetting one artifact takes its rows only.
  ASSERT_TRUE(db.Exec("DELETE FROM artifacts WHERE artifact = 'symbols';").ok());
  EXPECT_EQ(Scalar(&db, "SELECT count(*) FROM files"), 1);
  EXPECT_EQ(Scalar(&db, "SELECT value FROM counters WHERE name = 'listing'"), 0);
}

TEST_F(MigrationsTest, MigrationsAreNumberedInOrderWithoutGaps) {
  for (int i = 0; i < kMigrationCount; ++i) EXPECT_EQ(kMigrations[i].version, i + 1);
}

}  // namespace
}  // namespace devserver::state
