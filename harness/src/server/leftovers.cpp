#include "server/leftovers.hpp"

#include <pqxx/nontransaction>
#include <pqxx/result>

#include <unistd.h>

#include "pgrace/connection.hpp"
#include "server/base_directory.hpp"
#include "server/connection_errors.hpp"
#include "server/database_owner.hpp"
#include "server/instance_cleanup.hpp"
#include "server/watchdog.hpp"

namespace pgrace {
namespace {

using detail::OwnerState;

// A database named as owned_database_name() names them (or as older pgrace
// versions did), and whether --keep kept it.
struct PgraceDatabase {
  std::string name;
  bool kept = false;
};

std::vector<PgraceDatabase> pgrace_databases(pqxx::connection& connection) {
  pqxx::nontransaction tx(connection);
  std::vector<PgraceDatabase> found;
  for (const auto& row :
       tx.exec_params("SELECT datname, coalesce(shobj_description(oid, 'pg_database') = $1, false) FROM pg_database "
                      "WHERE datname ~ '^pgrace_.+_[0-9]+_[0-9]+_[0-9]+$' ORDER BY datname",
                      std::string(detail::kKeptComment)))
    found.push_back({row[0].as<std::string>(), row[1].as<bool>()});
  return found;
}

// Who is connected to database `name` besides us, as "1 session (pid 7, user
// bob, application psql, from 10.0.0.1)"; "" if nobody is.
std::string sessions_in(pqxx::connection& connection, const std::string& name) {
  pqxx::nontransaction tx(connection);
  const pqxx::result rows = tx.exec_params(
      "SELECT pid, usename, application_name, client_addr FROM pg_stat_activity "
      "WHERE datname = $1 AND pid <> pg_backend_pid() ORDER BY pid",
      name);
  if (rows.empty()) return "";
  std::string who = std::to_string(rows.size()) + (rows.size() == 1 ? " session (" : " sessions (");
  for (const auto& row : rows) {
    if (who.back() != '(') who += "; ";
    who += "pid " + row[0].as<std::string>() + ", user " + row[1].as<std::string>("?");
    if (!row[2].as<std::string>("").empty()) who += ", application " + row[2].as<std::string>();
    if (!row[3].is_null()) who += ", from " + row[3].as<std::string>();
  }
  return who + ")";
}

// Drops `name` unless someone is connected to it: pgrace never ends a
// session it did not open.
LeftoverDatabase drop_abandoned(pqxx::connection& connection, const PgraceDatabase& database, long pid) {
  const std::string& name = database.name;
  const std::string gone = std::string(database.kept ? "kept by --keep; " : "") + "its pgrace process (pid " +
                           std::to_string(pid) + " on this machine) is gone";
  const auto in_use = [&](const std::string& who) {
    return LeftoverDatabase{name, false,
                            gone + ", but " + who +
                                " connected to it, so it is not dropped: run pgrace clean again "
                                "once nobody is"};
  };
  try {
    if (const std::string who = sessions_in(connection, name); !who.empty()) return in_use(who + " is");
    pqxx::nontransaction tx(connection);
    tx.exec("DROP DATABASE IF EXISTS " + connection.quote_name(name));  // fails if someone connects meanwhile
    return {name, true, gone};
  } catch (const pqxx::sql_error& e) {
    if (e.sqlstate() == "55006") return in_use("a session got");  // object_in_use
    return {name, false,
            gone + ", but it cannot be dropped: " + pgrace::one_line(std::string(e.what()).substr(0, 200)) +
                " (run pgrace clean as its owner or a superuser)"};
  }
}

LeftoverDatabase judge(pqxx::connection& connection, const PgraceDatabase& database, Leftovers which) {
  const std::string& name = database.name;
  const detail::DatabaseOwner owner = detail::database_owner(name);
  if (database.kept && which == Leftovers::abandoned)
    return {name, false, "kept by --keep for inspection: pgrace clean (or DROP DATABASE) removes it"};
  const std::string pid = std::to_string(owner.pid);
  const std::string drop_it = "DROP DATABASE " + connection.quote_name(name);
  switch (owner.state) {
    case OwnerState::gone:
      return drop_abandoned(connection, database, owner.pid);
    case OwnerState::running:
      return {name, false, "its pgrace process (pid " + pid + " on this machine) is still running"};
    case OwnerState::elsewhere:
      return {name, false,
              "made by pid " + pid +
                  " on another machine or in another container; pgrace cannot tell whether that "
                  "run is over: drop it (" +
                  drop_it + ") once it is, or run pgrace clean there"};
    case OwnerState::unknown:
      break;
  }
  return {name, false,
          "made by an older pgrace, which did not record its process: drop it (" + drop_it + ") if no run uses it"};
}

}  // namespace

std::vector<LeftoverDatabase> remove_leftover_databases(const std::string& dsn, Leftovers which) {
  auto connection = connect(dsn);
  std::vector<LeftoverDatabase> seen;
  for (const PgraceDatabase& database : pgrace_databases(*connection))
    seen.push_back(judge(*connection, database, which));
  return seen;
}

std::vector<std::filesystem::path> remove_orphaned_proxy_directories() {
  std::vector<std::filesystem::path> removed;
  const std::filesystem::path base = detail::base_directory().path;
  if (!base.is_absolute()) return removed;
  try {
    detail::reap_orphaned(base, detail::kProxyDirectoryPrefix, [&removed](const std::filesystem::path& dir) {
      detail::remove_own_directory(dir.c_str());
      if (access(dir.c_str(), F_OK) != 0) removed.push_back(dir);
    });
  } catch (const std::exception&) {
    // Out of memory: what is left stays for a later pgrace.
  }
  return removed;
}

}  // namespace pgrace
