#pragma once
// A database per scenario run, cloned from a template database that is built
// once per distinct schema text. Internal to pgrace.

#include <pqxx/connection>
#include <string>

#include "pgrace/scenario.hpp"

namespace pgrace::detail {

// Creates a fresh database for `scenario_name` holding `schema`, cloned from
// the template pgrace_tpl_<hash of schema> (built first if missing; safe
// against other pgrace processes doing the same). Returns the new database's
// name. Throws pgrace::Error: usage if the schema SQL fails, infrastructure
// if the server does.
std::string create_scenario_database(const std::string& maintenance_dsn, const std::string& schema,
                                     const std::string& scenario_name);

// Drops database `name`, disconnecting any session still in it. Never throws.
void drop_database(const std::string& maintenance_dsn, const std::string& name) noexcept;

// A scenario run's own database: created by the constructor (as
// create_scenario_database), dropped by drop() or, at the latest, the destructor.
class ScenarioDatabase {
 public:
  ScenarioDatabase(const std::string& maintenance_dsn, const std::string& schema, const std::string& scenario_name)
      : maintenance_dsn_(maintenance_dsn),
        name_(create_scenario_database(maintenance_dsn, schema, scenario_name)) {}
  ~ScenarioDatabase() { drop(); }
  ScenarioDatabase(const ScenarioDatabase&) = delete;
  ScenarioDatabase& operator=(const ScenarioDatabase&) = delete;

  // A connection string for this database.
  std::string dsn() const;
  // Drops it now; idempotent, never throws. Close its connections first.
  void drop() noexcept;

 private:
  std::string maintenance_dsn_;
  std::string name_;
  bool dropped_ = false;
};

// Empties every table of schema public (TRUNCATE ... RESTART IDENTITY CASCADE)
// and runs the scenario's seed, in one transaction.
void reset_tables(pqxx::connection& connection, Scenario& scenario);

}  // namespace pgrace::detail
