// StateDb: a build's storage folder as one staging round read it, shared by every artifact
// of the round so the folder (its UPLOADED manifest, or a listing) is read from storage once.
#include "fcgi/state/state_db.h"
#include "fcgi/state/state_db_sql.h"

namespace devserver::state {
namespace {

// Binds ?1 build, ?2 name, ?3 size, ?4 generation, ?5 crc32c, ?6 md5: what writes of a listed
// object share.
Binder BindObject(const std::string& build, const ListedObject& object) {
  return [&build, &object](Statement& st) {
    st.Bind(1, build)
        .Bind(2, object.name)
        .Bind(3, object.size)
        .Bind(4, object.generation)
        .Bind(5, object.crc32c)
        .Bind(6, object.md5);
  };
}

}  // namespace

Status StateDb::GetListing(const std::string& build, Listing* listing, bool* found) {
  CheckProcess();
  *listing = Listing{};
  *found = false;
  ReadPool::Lease reader = readers_->Acquire();
  ReadTransaction txn(reader.get());  // the listing and its objects from one snapshot
  Status s = txn.Begin();
  if (s.ok()) {
    s = Run(
        reader.get(), "SELECT round, source = 'manifest' FROM listings WHERE build = ?1",
        [&](Statement& st) { st.Bind(1, build); },
        [&](const Statement& row) {
          listing->round = row.Int(0);
          listing->from_manifest = row.Int(1) != 0;
          *found = true;
        });
  }
  if (s.ok() && *found) {
    s = Run(
        reader.get(),
        "SELECT name, size, coalesce(generation, 0), coalesce(crc32c, ''), coalesce(md5, '') "
        "FROM listed_objects WHERE build = ?1 ORDER BY name",
        [&](Statement& st) { st.Bind(1, build); },
        [&](const Statement& row) {
          listing->objects.push_back(
              {row.Text(0), row.OptionalInt(1), row.Int(2), row.Text(3), row.Text(4)});
        });
  }
  if (s.ok()) s = txn.Commit();
  return s;
}

Status StateDb::PutListing(const std::string& build, Listing* listing) {
  std::lock_guard<std::mutex> lock(mu_);
  CheckProcess();
  WriteTransaction txn(&db_);
  Status s = txn.Begin();
  if (s.ok()) {
    s = Run(&db_, "UPDATE counters SET value = value + 1 WHERE name = 'listing' RETURNING value",
            {}, [&](const Statement& row) { listing->round = row.Int(0); });
  }
  if (s.ok()) {
    // Replaces the row and, through ON DELETE CASCADE, the objects of the last round.
    s = Run(&db_, "DELETE FROM listings WHERE build = ?1",
            [&](Statement& st) { st.Bind(1, build); });
  }
  if (s.ok()) {
    s = Run(&db_, "INSERT INTO listings (build, round, source, fetched_at) VALUES (?1, ?2, ?3, ?4)",
            [&](Statement& st) {
              st.Bind(1, build)
                  .Bind(2, listing->round)
                  .Bind(3, std::string(listing->from_manifest ? "manifest" : "listing"))
                  .Bind(4, options_.env->WallSeconds());
            });
  }
  for (const ListedObject& object : listing->objects) {
    if (!s.ok()) break;
    s = Run(&db_,
            "INSERT INTO listed_objects (build, name, size, generation, crc32c, md5) "
            "VALUES (?1, ?2, ?3, nullif(?4, 0), nullif(?5, ''), nullif(?6, '')) "
            "ON CONFLICT (build, name) DO NOTHING",
            BindObject(build, object));
  }
  if (s.ok()) s = txn.Commit();
  return s;
}

Status StateDb::UpdateListedObject(const std::string& build, const ListedObject& object) {
  std::lock_guard<std::mutex> lock(mu_);
  CheckProcess();
  return Run(&db_,
             "UPDATE listed_objects SET size = ?3, generation = nullif(?4, 0), "
             "  crc32c = nullif(?5, ''), md5 = nullif(?6, '') WHERE build = ?1 AND name = ?2",
             BindObject(build, object));
}

}  // namespace devserver::state
