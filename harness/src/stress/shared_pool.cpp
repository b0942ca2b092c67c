#include "stress/shared_pool.hpp"

#include <pqxx/nontransaction>

#include "core/pqxx_compat.hpp"

namespace pgrace::detail {

RoundRobinPool::RoundRobinPool(std::vector<std::unique_ptr<pqxx::connection>> connections)
    : connections_(std::move(connections)), locks_(connections_.size()) {}

pqxx::result RoundRobinPool::query(const std::string& sql, const std::vector<std::string>& params) {
  const std::size_t i = next_++ % connections_.size();
  std::lock_guard lock(locks_[i]);
  pqxx::nontransaction tx(*connections_[i]);
  if (params.empty()) return tx.exec(sql);
  return exec_params(tx, sql, params);
}

void RoundRobinPool::roll_back_all() {
  for (std::size_t i = 0; i < connections_.size(); ++i) {
    std::lock_guard lock(locks_[i]);
    pqxx::nontransaction tx(*connections_[i]);
    tx.exec("ROLLBACK");  // a warning, not an error, when no transaction is open
  }
}

}  // namespace pgrace::detail
