#include "session_setup.hpp"

#include <algorithm>
#include <cmath>
#include <pqxx/nontransaction>

namespace pgrace::detail {

std::string prepare_session(pqxx::connection& connection, Isolation isolation, const std::string& name,
                            double statement_timeout_s) {
  {
    pqxx::nontransaction tx(connection);
    tx.exec(std::string("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL ") + to_sql(isolation));
    const long timeout_ms = std::lround(statement_timeout_s * 1000);
    tx.exec("SET statement_timeout = " + std::to_string(statement_timeout_s > 0 ? std::max(timeout_ms, 1L) : 0L));
    tx.exec("SET application_name = " + tx.quote(name));
  }
  try {
    pqxx::nontransaction tx(connection);
    tx.exec("SET deadlock_timeout = '10ms'");
  } catch (const pqxx::sql_error&) {
    // Not a superuser: keep the server's value.
  }
  pqxx::nontransaction tx(connection);
  return tx.exec("SHOW deadlock_timeout")[0][0].as<std::string>();
}

}  // namespace pgrace::detail
