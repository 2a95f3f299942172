// Brings a database file to the schema this build knows: schema/NNN_*.sql, applied in order,
// each in its own write transaction, each recorded in PRAGMA user_version.
#pragma once

#include "fcgi/base/status.h"
#include "fcgi/state/sqlite.h"

namespace devserver::state {

struct Migration {
  int version;       // NNN of schema/NNN_name.sql
  const char* name;  // "001_initial"
  const char* sql;
};

// The migrations compiled in from schema/ (generated at build time).
extern const Migration kMigrations[];
extern const int kMigrationCount;

// The version of the newest migration.
int LatestSchemaVersion();

// Applies every migration newer than the file's user_version. Safe against several
// processes starting at once: each step re-reads the version under the write lock. A file
// newer than this build is refused rather than misread.
Status Migrate(Connection* db);

}  // namespace devserver::state
