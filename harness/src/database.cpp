#include "database.hpp"

#include <unistd.h>

#include <atomic>
#include <cctype>
#include <pqxx/nontransaction>
#include <pqxx/transaction>
#include <random>
#include <sstream>

#include "pgrace/connection.hpp"
#include "pgrace/dsn.hpp"
#include "pgrace/error.hpp"

namespace pgrace::detail {
namespace {

std::string hex_hash(const std::string& text) {
  std::uint64_t hash = 1469598103934665603ULL;  // FNV-1a
  for (unsigned char c : text) hash = (hash ^ c) * 1099511628211ULL;
  std::ostringstream out;
  out << std::hex << hash;
  return out.str();
}

// A name no other process or run will pick: prefix, pid, counter, random.
std::string unique_name(const std::string& prefix) {
  static std::atomic<int> counter{0};
  static const unsigned salt = std::random_device{}() % 100000;
  return prefix + "_" + std::to_string(getpid()) + "_" + std::to_string(salt) + "_" +
         std::to_string(counter++);
}

std::string sanitized(const std::string& name) {
  std::string out;
  for (char c : name) out += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_';
  return out.substr(0, 30);
}

void exec_autocommit(pqxx::connection& connection, const std::string& sql) {
  pqxx::nontransaction tx(connection);
  tx.exec(sql);
}

void build_template(const std::string& maintenance_dsn, pqxx::connection& maintenance,
                    const std::string& schema, const std::string& template_name) {
  const std::string building = unique_name("pgrace_build");
  exec_autocommit(maintenance, "CREATE DATABASE " + maintenance.quote_name(building));
  try {
    auto connection = connect(dsn_with_database(maintenance_dsn, building));
    pqxx::work tx(*connection);
    tx.exec(schema);
    tx.commit();
  } catch (const pqxx::sql_error& e) {
    drop_database(maintenance_dsn, building);
    throw usage_error("the scenario's schema failed: " + std::string(e.what()).substr(0, 300) +
                      " (fix the schema SQL)");
  } catch (...) {
    drop_database(maintenance_dsn, building);
    throw;
  }
  try {
    exec_autocommit(maintenance, "ALTER DATABASE " + maintenance.quote_name(building) + " RENAME TO " +
                                     maintenance.quote_name(template_name));
  } catch (const pqxx::sql_error& e) {
    drop_database(maintenance_dsn, building);
    if (e.sqlstate() != "42P04") throw;  // 42P04: another process published it first
  }
}

std::string create_database_from_template(const std::string& maintenance_dsn, const std::string& schema,
                                          const std::string& scenario_name) {
  auto maintenance = connect(maintenance_dsn);
  const std::string template_name = "pgrace_tpl_" + hex_hash(schema);
  bool exists = false;
  {
    pqxx::nontransaction tx(*maintenance);
    exists = !tx.exec_params("SELECT 1 FROM pg_database WHERE datname = $1", template_name).empty();
  }
  if (!exists) build_template(maintenance_dsn, *maintenance, schema, template_name);
  const std::string name = unique_name("pgrace_" + sanitized(scenario_name));
  exec_autocommit(*maintenance, "CREATE DATABASE " + maintenance->quote_name(name) + " TEMPLATE " +
                                    maintenance->quote_name(template_name));
  return name;
}

}  // namespace

std::string create_scenario_database(const std::string& maintenance_dsn, const std::string& schema,
                                     const std::string& scenario_name) {
  try {
    return create_database_from_template(maintenance_dsn, schema, scenario_name);
  } catch (const pqxx::sql_error& e) {
    std::string reason = scrub_secrets(e.what(), maintenance_dsn);
    if (auto newline = reason.find('\n'); newline != std::string::npos) reason.resize(newline);
    throw infrastructure_error("cannot create a database for " + scenario_name + ": " + reason +
                               " (pgrace needs a role with CREATEDB on the server)");
  }
}

void drop_database(const std::string& maintenance_dsn, const std::string& name) noexcept {
  try {
    auto maintenance = connect(maintenance_dsn);
    const bool force = maintenance->server_version() >= 130000;
    exec_autocommit(*maintenance, "DROP DATABASE IF EXISTS " + maintenance->quote_name(name) +
                                      (force ? " WITH (FORCE)" : ""));
  } catch (...) {
    // Best effort: an ephemeral server is removed whole anyway.
  }
}

std::string ScenarioDatabase::dsn() const { return dsn_with_database(maintenance_dsn_, name_); }

void ScenarioDatabase::drop() noexcept {
  if (dropped_) return;
  dropped_ = true;
  drop_database(maintenance_dsn_, name_);
}

void reset_tables(pqxx::connection& connection, Scenario& scenario) {
  pqxx::work tx(connection);
  auto tables = tx.exec(
      "SELECT string_agg(format('%I.%I', schemaname, tablename), ', ') FROM pg_tables "
      "WHERE schemaname = 'public'")[0][0];
  if (!tables.is_null()) tx.exec("TRUNCATE " + tables.as<std::string>() + " RESTART IDENTITY CASCADE");
  scenario.seed(tx);
  tx.commit();
}

}  // namespace pgrace::detail
