#pragma once
// A database per scenario run, cloned from a template database that is built
// once per distinct schema text and role. Internal to pgrace.

#include <memory>
#include <pqxx/connection>
#include <string>

#include "pgrace/scenario.hpp"

namespace pgrace::detail {

// The template database that role `role` builds for `schema`:
// pgrace_tpl_<hash of both>. Keyed by role too because a database can be
// copied only by its owner (or a superuser), and the tables in a copy belong
// to whoever made the template.
std::string template_name(const std::string& role, const std::string& schema);

// Drops database `name`, disconnecting any session still in it. Never throws.
void drop_database(const std::string& maintenance_dsn, const std::string& name) noexcept;

// A database this process made and must drop: drop() drops it, and so does
// the destructor, and so does the Ctrl-C/SIGTERM handler if the process is
// told to terminate first. (After SIGKILL, later runs and `pgrace clean`
// remove it: its name identifies this process, see server/database_owner.hpp.)
class OwnedDatabase {
 public:
  OwnedDatabase(const std::string& maintenance_dsn, const std::string& name);
  ~OwnedDatabase();
  OwnedDatabase(const OwnedDatabase&) = delete;
  OwnedDatabase& operator=(const OwnedDatabase&) = delete;

  const std::string& name() const;
  // Drops it now; idempotent, never throws. Close its connections first.
  void drop() noexcept;
  // It is no longer this process's to drop (it was renamed).
  void release() noexcept;

 private:
  struct Pending;  // shared with the termination handler
  std::shared_ptr<Pending> pending_;
  int cleanup_handle_;
};

// A scenario run's own database on the server of `maintenance_dsn`, holding
// `schema`: a copy of the template database (built first if missing; safe
// against other pgrace processes, on any machine, doing the same). Before the
// first one on a server, removes the databases that dead pgrace processes of
// this machine left there. Dropped as OwnedDatabase says.
// Throws pgrace::Error: usage (naming the scenario, the line and the server's
// message) if the schema SQL fails, infrastructure (naming the privilege or
// setting that is missing) if the server refuses.
class ScenarioDatabase {
 public:
  ScenarioDatabase(const std::string& maintenance_dsn, const std::string& schema, const std::string& scenario_name);

  // A connection string for this database.
  std::string dsn() const;
  const std::string& name() const { return database_.name(); }
  // Drops it now; idempotent, never throws. Close its connections first.
  void drop() noexcept { database_.drop(); }
  // Keeps it instead (--keep): marks it with kKeptComment (see
  // database_owner.hpp), so that later runs leave it alone, and never drops
  // it. Throws pgrace::Error (infrastructure) if the server refuses the
  // comment; then it is dropped as usual.
  void keep();

 private:
  std::string maintenance_dsn_;
  OwnedDatabase database_;
};

// Empties every table of schema public (TRUNCATE ... RESTART IDENTITY CASCADE)
// and runs the scenario's seed, in one transaction.
void reset_tables(pqxx::connection& connection, Scenario& scenario);

}  // namespace pgrace::detail
