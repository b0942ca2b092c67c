#include "core/lock_wait.hpp"

#include <pqxx/nontransaction>
#include <pqxx/result>

namespace pgrace::detail {

std::string pid_array(const std::vector<int>& pids) {
  std::string text = "{";
  for (int pid : pids) text += (text.size() > 1 ? "," : "") + std::to_string(pid);
  return text + "}";
}

bool is_blocked(pqxx::connection& control, int pid, const std::vector<int>& others) {
  // The pid as text: libpqxx 7's params::append<int> trips GCC 12's
  // -Wmaybe-uninitialized (a false positive, libpqxx#1024).
  pqxx::nontransaction tx(control);
  return tx.exec_params(kLockWaitQuery, std::to_string(pid), pid_array(others))[0][0].as<bool>();
}

std::vector<int> blockers_of(pqxx::connection& control, int pid, const std::vector<int>& others) {
  pqxx::nontransaction tx(control);
  const pqxx::result rows = tx.exec_params(
      "SELECT b FROM unnest(pg_catalog.pg_blocking_pids($1) || pg_catalog.pg_safe_snapshot_blocking_pids($1)) AS b "
      "WHERE b = ANY($2::int[]) ORDER BY b",
      std::to_string(pid), pid_array(others));
  std::vector<int> pids;
  for (const auto& row : rows) pids.push_back(row[0].as<int>());
  return pids;
}

}  // namespace pgrace::detail
