#include "fcgi/state/migrations.h"

#include <string>

namespace devserver::state {
namespace {

Status ReadUserVersion(Connection* db, int* version) {
  Statement stmt;
  Status s = db->Prepare("PRAGMA user_version;", &stmt);
  bool row = false;
  if (s.ok()) s = stmt.Step(&row);
  if (!s.ok()) return s;
  *version = row ? static_cast<int>(stmt.Int(0)) : 0;
  return Status::Ok();
}

}  // namespace

int LatestSchemaVersion() { return kMigrations[kMigrationCount - 1].version; }

Status Migrate(Connection* db) {
  for (int i = 0; i < kMigrationCount; ++i) {
    const Migration& m = kMigrations[i];
    WriteTransaction txn(db);
    Status s = txn.Begin();
    int version = 0;
    if (s.ok()) s = ReadUserVersion(db, &version);
    if (!s.ok()) return s;
    if (version > LatestSchemaVersion()) {
      return Status::Failed("state database schema version " + std::to_string(version) +
                            " is newer than this devserver knows (" +
                            std::to_string(LatestSchemaVersion()) + ")");
    }
    if (version >= m.version) continue;
    s = db->Exec(m.sql);
    if (s.ok()) s = db->Exec("PRAGMA user_version = " + std::to_string(m.version) + ";");
    if (s.ok()) s = txn.Commit();
    if (!s.ok())
      return Status::Failed("applying schema " + std::string(m.name) + ": " + s.message());
  }
  return Status::Ok();
}

}  // namespace devserver::state
