// Runs one SQL statement through the connection's statement cache: the one way StateDb's
// files execute SQL.
#pragma once

#include <functional>
#include <string>

#include "fcgi/base/status.h"
#include "fcgi/state/sqlite.h"
#include "fcgi/state/statement_cache.h"

namespace devserver::state {

using Binder = std::function<void(Statement&)>;
using RowReader = std::function<void(const Statement&)>;

// Prepares `sql` once per connection, binds with `bind`, then hands each row to `row`.
inline Status Run(Connection* db, const std::string& sql, const Binder& bind,
                  const RowReader& row = {}) {
  LeasedStatement stmt;
  Status s = db->Cached(sql, &stmt);
  if (!s.ok()) return s;
  if (bind) bind(*stmt);
  for (;;) {
    bool has_row = false;
    s = stmt->Step(&has_row);
    if (!s.ok() || !has_row) return s;
    if (row) row(*stmt);
  }
}

}  // namespace devserver::state
