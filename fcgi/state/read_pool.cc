#include "fcgi/state/read_pool.h"

#include <utility>

namespace devserver::state {

Status ReadPool::Open(const std::string& path, int connections, int busy_timeout_ms,
                      std::unique_ptr<ReadPool>* pool) {
  std::unique_ptr<ReadPool> opened(new ReadPool());
  const int count = connections < 1 ? 1 : connections;
  for (int i = 0; i < count; ++i) {
    auto connection = std::make_unique<Connection>();
    Status s = Connection::OpenForReading(path, busy_timeout_ms, connection.get());
    if (!s.ok()) return s;
    opened->idle_.push_back(connection.get());
    opened->connections_.push_back(std::move(connection));
  }
  *pool = std::move(opened);
  return Status::Ok();
}

ReadPool::Lease ReadPool::Acquire() {
  std::unique_lock<std::mutex> lock(mu_);
  freed_.wait(lock, [&] { return !idle_.empty(); });
  Connection* connection = idle_.back();
  idle_.pop_back();
  return Lease(this, connection);
}

void ReadPool::Release(Connection* connection) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    idle_.push_back(connection);
  }
  freed_.notify_one();
}

ReadPool::Lease::Lease(Lease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      connection_(std::exchange(other.connection_, nullptr)) {}

ReadPool::Lease::~Lease() {
  if (pool_ != nullptr) pool_->Release(connection_);
}

}  // namespace devserver::state
