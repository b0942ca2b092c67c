#include "session_setup.hpp"

#include <pqxx/nontransaction>

namespace pgrace::detail {

std::string prepare_session(pqxx::connection& connection, Isolation isolation, const std::string& name) {
  {
    pqxx::nontransaction tx(connection);
    tx.exec(std::string("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL ") + to_sql(isolation));
    tx.exec("SET statement_timeout = '30s'");  // nothing hangs forever: a stuck statement ends in 57014
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
