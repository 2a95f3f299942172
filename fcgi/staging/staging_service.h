// The staging service of one worker process: its share of the shared state (the SQLite
// file), its liveness lock, and (as the staging core grows) its stager threads and waiters.
#pragma once

#include <memory>

#include "fcgi/base/status.h"
#include "fcgi/config/config.h"
#include "fcgi/state/liveness.h"
#include "fcgi/state/state_db.h"

namespace devserver {

class StagingService {
 public:
  // Called in the worker after fork(): takes this process's liveness lock, opens (and if
  // needed creates or migrates) <state_dir>/state.db, and returns the rows of dead owners
  // to the queue so nothing stays "staging" under a process that is gone.
  static Status Start(const Config& config, std::unique_ptr<StagingService>* service);

  state::StateDb* db() { return db_.get(); }
  const state::Owner& owner() const { return lock_.owner(); }

 private:
  StagingService() = default;

  state::OwnerLock lock_;
  std::unique_ptr<state::StateDb> db_;
};

// Where the state lives under [paths] state_dir.
std::string StateDatabasePath(const Config& config);
std::string OwnerLockDir(const Config& config);

}  // namespace devserver
