#include "spec/database.hpp"

#include <pqxx/except>
#include <pqxx/nontransaction>

#include "pgrace/connection.hpp"
#include "pgrace/dsn.hpp"
#include "pgrace/error.hpp"
#include "server/database_owner.hpp"

namespace pgrace::spec {
namespace {

const char* const kSettings[][2] = {
    {"lc_messages", "C"},    {"lc_monetary", "C"},           {"lc_numeric", "C"},
    {"lc_time", "C"},        {"bytea_output", "hex"},        {"timezone_abbreviations", "Default"},
    {"timezone", "PST8PDT"}, {"datestyle", "Postgres, MDY"},
};

void create(pqxx::connection& maintenance, const std::string& name) {
  pqxx::nontransaction tx(maintenance);
  const std::string quoted = maintenance.quote_name(name);
  tx.exec("CREATE DATABASE " + quoted + " TEMPLATE template0");
  for (const auto& setting : kSettings)
    tx.exec("ALTER DATABASE " + quoted + " SET " + setting[0] + " TO " + maintenance.quote(setting[1]));
}

}  // namespace

SpecDatabase::SpecDatabase(const std::string& maintenance_dsn)
    : database_(maintenance_dsn, detail::owned_database_name("run")),
      dsn_(dsn_with_database(maintenance_dsn, database_.name())) {
  auto maintenance = connect(maintenance_dsn);
  try {
    create(*maintenance, database_.name());
  } catch (const pqxx::sql_error& e) {
    std::string message = e.what();
    message = message.substr(0, message.find('\n'));
    const std::string fix = e.sqlstate() == "42501" || message.find("permission denied") != std::string::npos
                                ? " (the role needs CREATEDB: ALTER ROLE ... CREATEDB, or omit --dsn to use an "
                                  "ephemeral server)"
                                : "";
    throw infrastructure_error("cannot create the database for a spec run: " + one_line(message) + fix);
  }
}

}  // namespace pgrace::spec
