// BuildListings: a build's storage folder read once per staging round and shared by every
// stager of the round, in any worker, through the state database.
//
// The first stager that needs the folder reads it (the UPLOADED manifest when there is one,
// else a listing) while holding a per-build lock that the others wait on; they then find it
// recorded. A request that queues new work for the build starts a new round (the state
// layer drops the recorded listing), so objects uploaded or replaced since are seen.
#pragma once

#include <functional>
#include <string>

#include "fcgi/base/status.h"
#include "fcgi/build/build_ref.h"
#include "fcgi/state/state_db.h"
#include "fcgi/storage/archive_store.h"

namespace devserver {

class BuildListings {
 public:
  // `lock_path`: a file in the state directory whose bytes are the per-build locks.
  BuildListings(state::StateDb* db, storage::ArchiveStore* store, std::string lock_path)
      : db_(db), store_(store), lock_path_(std::move(lock_path)) {}

  // The listing of `ref`'s build for this round: the recorded one, unless there is none or
  // it is round `stale_round` (the caller has seen it and found an object missing), in which
  // case the folder is read again (an empty folder is an empty listing). `cancelled` ends the
  // wait for another stager's read.
  Status Get(const BuildRef& ref, int64_t stale_round, const std::function<bool()>& cancelled,
             state::Listing* listing);

  // Fills in the metadata of an object a manifest named (a listing has it already): read from
  // storage once, then recorded with the listing. NotFound when the object does not exist.
  Status Describe(const BuildRef& ref, state::ListedObject* object);

  // The storage view of a listed object of `ref`'s build.
  static storage::ObjectInfo ObjectOf(const BuildRef& ref, const state::ListedObject& object);

 private:
  Status Read(const BuildRef& ref, state::Listing* listing);

  state::StateDb* const db_;
  storage::ArchiveStore* const store_;
  const std::string lock_path_;
};

}  // namespace devserver
