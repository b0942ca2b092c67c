#include "core/lock_wait.hpp"

#include <pqxx/nontransaction>

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

}  // namespace pgrace::detail
