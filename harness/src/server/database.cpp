#include "server/database.hpp"

#include <libpq-fe.h>

#include <mutex>
#include <pqxx/except>
#include <pqxx/nontransaction>
#include <pqxx/transaction>
#include <set>
#include <sstream>

#include "pgrace/connection.hpp"
#include "pgrace/dsn.hpp"
#include "pgrace/error.hpp"
#include "server/connection_errors.hpp"
#include "server/database_owner.hpp"
#include "server/leftovers.hpp"
#include "server/termination.hpp"

namespace pgrace::detail {
namespace {

std::uint64_t fnv1a(const std::string& text) {
  std::uint64_t hash = 1469598103934665603ULL;
  for (unsigned char c : text) hash = (hash ^ c) * 1099511628211ULL;
  return hash;
}

void exec_autocommit(pqxx::connection& connection, const std::string& sql) {
  pqxx::nontransaction tx(connection);
  tx.exec(sql);
}

bool database_exists(pqxx::connection& connection, const std::string& name) {
  pqxx::nontransaction tx(connection);
  return !tx.exec_params("SELECT 1 FROM pg_database WHERE datname = $1", name).empty();
}

// The server's message of `e` without "ERROR:" and on one line.
std::string server_message(const pqxx::sql_error& e) {
  std::string message = e.what();
  message = message.substr(0, message.find('\n'));
  for (const char* prefix : {"ERROR:", "FATAL:"})
    if (message.rfind(prefix, 0) == 0) message.erase(0, std::string(prefix).size());
  return one_line(message);
}

// The SQLSTATE of `e` (libpqxx 6.4 leaves it empty for 42501).
std::string sqlstate_of(const pqxx::sql_error& e) {
  if (e.sqlstate().empty() && dynamic_cast<const pqxx::insufficient_privilege*>(&e)) return "42501";
  return e.sqlstate();
}

// Holds a session-level advisory lock on `connection` for its lifetime:
// pgrace processes that use the same maintenance database take turns.
class AdvisoryLock {
 public:
  AdvisoryLock(pqxx::connection& connection, const std::string& what)
      : connection_(connection), key_(static_cast<long long>(fnv1a(what) >> 1)) {
    pqxx::nontransaction tx(connection_);
    tx.exec_params("SELECT pg_advisory_lock($1)", key_);
  }
  ~AdvisoryLock() {
    try {
      pqxx::nontransaction tx(connection_);
      tx.exec_params("SELECT pg_advisory_unlock($1)", key_);
    } catch (...) {
      // The connection is gone, and the lock with it.
    }
  }
  AdvisoryLock(const AdvisoryLock&) = delete;
  AdvisoryLock& operator=(const AdvisoryLock&) = delete;

 private:
  pqxx::connection& connection_;
  long long key_;
};

// Where in `text` the 1-based character position `position` is, as
// "line L, column C" (UTF-8 text).
std::string line_and_column(const std::string& text, long position) {
  long line = 1, column = 0, characters = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) == 0x80) continue;  // continuation byte of a multi-byte character
    if (++characters == position) break;
    if (c == '\n')
      ++line, column = 0;
    else
      ++column;
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(column + 1);
}

// Runs `schema` in the database at `dsn`, in one transaction. libpq rather
// than libpqxx: the error's position in the text is wanted.
void run_schema(const std::string& dsn, const std::string& schema, const std::string& scenario) {
  std::unique_ptr<PGconn, decltype(&PQfinish)> connection(PQconnectdb(dsn.c_str()), &PQfinish);
  if (PQstatus(connection.get()) != CONNECTION_OK)
    throw infrastructure_error("cannot connect to the database being built for " + scenario + ": " +
                               one_line(scrub_secrets(PQerrorMessage(connection.get()), dsn)));
  std::unique_ptr<PGresult, decltype(&PQclear)> result(PQexec(connection.get(), schema.c_str()), &PQclear);
  const ExecStatusType status = PQresultStatus(result.get());
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY) return;
  if (PQstatus(connection.get()) != CONNECTION_OK)
    throw infrastructure_error("lost the connection to the server while building the template of " + scenario + ": " +
                               one_line(scrub_secrets(PQerrorMessage(connection.get()), dsn)));
  const char* primary = PQresultErrorField(result.get(), PG_DIAG_MESSAGE_PRIMARY);
  const char* position = PQresultErrorField(result.get(), PG_DIAG_STATEMENT_POSITION);
  const std::string where = position ? " at " + line_and_column(schema, std::atol(position)) : "";
  throw usage_error("the schema of " + scenario + " fails" + where + ": " +
                    one_line(primary ? primary : PQresultErrorMessage(result.get())) +
                    " (fix the SQL that its schema() returns)");
}

// The error for a CREATE DATABASE ... TEMPLATE `source` that the server
// refused: what is missing, and how to get it.
Error create_refused(const pqxx::sql_error& e, pqxx::connection& maintenance, const std::string& role,
                     const std::string& source, const std::string& scenario) {
  const std::string message = server_message(e);
  const std::string sqlstate = sqlstate_of(e);
  const std::string prefix = "cannot create a database for " + scenario + ": ";
  if (sqlstate == "42501" && message.find("create database") != std::string::npos)
    return infrastructure_error(prefix + "role \"" + role +
                                "\" may not create databases, and pgrace makes one per scenario run on a server "
                                "given by --dsn: grant it with ALTER ROLE \"" +
                                role + "\" CREATEDB (as a superuser), or omit --dsn to use an ephemeral server");
  if (sqlstate == "42501") {
    std::string owner = "another role";
    try {
      pqxx::nontransaction tx(maintenance);
      auto rows = tx.exec_params("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", source);
      if (!rows.empty()) owner = "role \"" + rows[0][0].as<std::string>() + "\"";
    } catch (...) {
    }
    return infrastructure_error(prefix + "the template database " + source + " belongs to " + owner + ", and role \"" +
                                role + "\" may not copy it (" + message + "): drop it (DROP DATABASE " + source +
                                ", as its owner or a superuser) and pgrace rebuilds it as \"" + role + "\"");
  }
  if (sqlstate == "55006")
    return infrastructure_error(prefix + "the template database " + source +
                                " is in use by another session, so it cannot be copied: end that session (see "
                                "pg_stat_activity) and run again");
  return infrastructure_error(prefix + message + " (SQLSTATE " + sqlstate + ")");
}

// CREATE DATABASE `name` TEMPLATE `source`.
void create_database(pqxx::connection& maintenance, const std::string& name, const std::string& source,
                     const std::string& role, const std::string& scenario) {
  try {
    exec_autocommit(maintenance,
                    "CREATE DATABASE " + maintenance.quote_name(name) + " TEMPLATE " + maintenance.quote_name(source));
  } catch (const pqxx::sql_error& e) {
    throw create_refused(e, maintenance, role, source, scenario);
  }
}

// Builds template `template_db` under a name of its own and renames it when
// complete: a database named pgrace_tpl_* is always complete. If another
// process publishes it first, its copy is used.
void build_template(const std::string& maintenance_dsn, pqxx::connection& maintenance, const std::string& role,
                    const std::string& schema, const std::string& template_db, const std::string& scenario) {
  OwnedDatabase building(maintenance_dsn, owned_database_name("build"));
  create_database(maintenance, building.name(), "template0", role, scenario);  // template0: nobody connects to it
  run_schema(dsn_with_database(maintenance_dsn, building.name()), schema, scenario);
  const std::string quoted = maintenance.quote_name(building.name());
  try {
    exec_autocommit(maintenance, "ALTER DATABASE " + quoted + " ALLOW_CONNECTIONS false");  // so copying never waits
    exec_autocommit(maintenance, "ALTER DATABASE " + quoted + " RENAME TO " + maintenance.quote_name(template_db));
    building.release();
  } catch (const pqxx::sql_error& e) {
    // 42P04 or 23505: another process published it first (through another
    // maintenance database, so not under our lock).
    if (sqlstate_of(e) != "42P04" && sqlstate_of(e) != "23505")
      throw infrastructure_error("cannot publish the template database for " + scenario + ": " + server_message(e) +
                                 " (SQLSTATE " + sqlstate_of(e) + ")");
  }
}

// Makes sure the template exists, building it if needed. Concurrent callers
// on the same maintenance database take turns; others are handled by
// build_template.
void ensure_template(const std::string& maintenance_dsn, pqxx::connection& maintenance, const std::string& role,
                     const std::string& schema, const std::string& template_db, const std::string& scenario) {
  if (database_exists(maintenance, template_db)) return;
  AdvisoryLock lock(maintenance, template_db);
  if (database_exists(maintenance, template_db)) return;  // built while we waited
  build_template(maintenance_dsn, maintenance, role, schema, template_db, scenario);
}

// Once per server and process: removes what dead pgrace processes left.
void remove_leftovers_once(const std::string& maintenance_dsn) {
  static std::mutex mutex;
  static std::set<std::string> done;
  {
    std::lock_guard lock(mutex);
    if (!done.insert(maintenance_dsn).second) return;
  }
  try {
    remove_leftover_databases(maintenance_dsn, Leftovers::abandoned);
  } catch (const Error&) {
    // Not this run's problem: it goes on and reports its own errors.
  }
}

}  // namespace

std::string template_name(const std::string& role, const std::string& schema) {
  std::ostringstream name;
  name << "pgrace_tpl_" << std::hex << fnv1a(role + '\n' + schema);
  return name.str();
}

void drop_database(const std::string& maintenance_dsn, const std::string& name) noexcept {
  try {
    auto maintenance = connect(maintenance_dsn);
    const bool force = maintenance->server_version() >= 130000;
    exec_autocommit(*maintenance,
                    "DROP DATABASE IF EXISTS " + maintenance->quote_name(name) + (force ? " WITH (FORCE)" : ""));
  } catch (...) {
    // Best effort: an ephemeral server is removed whole anyway, and on a
    // server of the user's the next run removes it (its owner is gone).
  }
}

struct OwnedDatabase::Pending {
  std::string maintenance_dsn;
  std::string name;
  std::mutex mutex;
  bool done = false;
};

OwnedDatabase::OwnedDatabase(const std::string& maintenance_dsn, const std::string& name)
    : pending_(std::make_shared<Pending>()) {
  pending_->maintenance_dsn = maintenance_dsn;
  pending_->name = name;
  cleanup_handle_ = register_cleanup([pending = pending_] {
    // The process exits when the handler is done. The lock is kept so that
    // no thread of ours goes on with a database that is gone.
    pending->mutex.lock();
    if (!pending->done) drop_database(pending->maintenance_dsn, pending->name);
    pending->done = true;
  });
}

OwnedDatabase::~OwnedDatabase() {
  drop();
  unregister_cleanup(cleanup_handle_);
}

const std::string& OwnedDatabase::name() const { return pending_->name; }

void OwnedDatabase::drop() noexcept {
  std::lock_guard lock(pending_->mutex);
  if (pending_->done) return;
  pending_->done = true;
  drop_database(pending_->maintenance_dsn, pending_->name);
}

void OwnedDatabase::release() noexcept {
  std::lock_guard lock(pending_->mutex);
  pending_->done = true;
}

ScenarioDatabase::ScenarioDatabase(const std::string& maintenance_dsn, const std::string& schema,
                                   const std::string& scenario_name)
    : maintenance_dsn_(maintenance_dsn), database_(maintenance_dsn, owned_database_name("run")) {
  remove_leftovers_once(maintenance_dsn);
  auto maintenance = connect(maintenance_dsn);
  std::string role;
  {
    pqxx::nontransaction tx(*maintenance);
    auto row = tx.exec("SELECT current_user, (SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user)")[0];
    role = row[0].as<std::string>();
    remember_role_connection_limit(maintenance_dsn, row[1].is_null() ? -1 : row[1].as<int>());
  }
  const std::string template_db = template_name(role, schema);
  ensure_template(maintenance_dsn, *maintenance, role, schema, template_db, scenario_name);
  create_database(*maintenance, database_.name(), template_db, role, scenario_name);
}

void ScenarioDatabase::keep() {
  auto maintenance = connect(maintenance_dsn_);
  try {
    exec_autocommit(*maintenance, "COMMENT ON DATABASE " + maintenance->quote_name(name()) + " IS " +
                                      maintenance->quote(std::string(kKeptComment)));
  } catch (const pqxx::sql_error& e) {
    throw infrastructure_error("cannot keep database " + name() + " (--keep): " + server_message(e));
  }
  database_.release();
}

std::string ScenarioDatabase::dsn() const { return dsn_with_database(maintenance_dsn_, database_.name()); }

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
