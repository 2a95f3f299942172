#include "fcgi/state/statement_cache.h"

#include <utility>

namespace devserver::state {

Status StatementCache::Lease(Connection* db, const std::string& sql, LeasedStatement* out) {
  *out = LeasedStatement();
  auto it = entries_.find(sql);
  if (it != entries_.end() && !it->second.leased) {
    it->second.leased = true;
    out->entry_ = &it->second;
    return Status::Ok();
  }
  Statement statement;
  Status s = db->Prepare(sql, &statement);
  if (!s.ok()) return s;
  ++prepared_;
  if (it != entries_.end() || entries_.size() >= capacity_) {
    out->own_ = std::move(statement);
    return Status::Ok();
  }
  Entry& entry = entries_[sql];
  entry.statement = std::move(statement);
  entry.leased = true;
  out->entry_ = &entry;
  return Status::Ok();
}

LeasedStatement::LeasedStatement(LeasedStatement&& other) noexcept
    : entry_(std::exchange(other.entry_, nullptr)), own_(std::move(other.own_)) {}

LeasedStatement& LeasedStatement::operator=(LeasedStatement&& other) noexcept {
  if (this != &other) {
    Return();
    entry_ = std::exchange(other.entry_, nullptr);
    own_ = std::move(other.own_);
  }
  return *this;
}

void LeasedStatement::Return() {
  if (entry_ != nullptr) {
    entry_->statement.Reset();
    entry_->leased = false;
    entry_ = nullptr;
  }
  own_ = Statement();  // finalizes a statement prepared for this use only
}

}  // namespace devserver::state
