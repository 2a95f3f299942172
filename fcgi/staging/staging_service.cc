#include "fcgi/staging/staging_service.h"

#include "fcgi/base/log.h"

namespace devserver {

std::string StateDatabasePath(const Config& config) { return config.state_dir + "/state.db"; }

std::string OwnerLockDir(const Config& config) { return config.state_dir + "/owners"; }

Status StagingService::Start(const Config& config, std::unique_ptr<StagingService>* service) {
  std::unique_ptr<StagingService> started(new StagingService());
  Status s = started->lock_.Acquire(OwnerLockDir(config));
  if (!s.ok()) return s;
  s = state::StateDb::Open(StateDatabasePath(config), state::StateOptions{}, &started->db_);
  if (!s.ok()) return s;
  int requeued = 0;
  s = started->db_->RequeueDeadOwners(&requeued);
  if (!s.ok()) return s;
  int swept = state::RemoveDeadOwnerLocks(OwnerLockDir(config));
  if (requeued > 0 || swept > 0) {
    DS_LOG(kInfo) << "start-up sweep: " << requeued << " artifacts of dead owners queued again, "
                  << swept << " dead owner locks removed";
  }
  *service = std::move(started);
  return Status::Ok();
}

}  // namespace devserver
