#include "pgrace/connection.hpp"

#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <tuple>

#include "pgrace/dsn.hpp"
#include "pgrace/error.hpp"
#include "server/connection_errors.hpp"

namespace pgrace {
namespace detail {
namespace {

// Identifies a role on a server: host, host address, port, user.
using RoleKey = std::tuple<std::string, std::string, std::string, std::string>;

RoleKey role_key(const std::string& dsn) {
  return {dsn_parameter(dsn, "host").value_or(""), dsn_parameter(dsn, "hostaddr").value_or(""),
          dsn_parameter(dsn, "port").value_or(""), dsn_parameter(dsn, "user").value_or("")};
}

struct RoleLimits {
  std::mutex mutex;
  std::map<RoleKey, int> limits;
};

RoleLimits& role_limits() {
  static RoleLimits limits;
  return limits;
}

std::optional<int> role_connection_limit(const std::string& dsn) {
  RoleLimits& known = role_limits();
  std::lock_guard lock(known.mutex);
  auto it = known.limits.find(role_key(dsn));
  if (it == known.limits.end()) return std::nullopt;
  return it->second;
}

// Why the server refused: its message, and what to do about it.
std::string refusal_and_fix(const std::string& reason, const std::string& dsn) {
  static const std::regex role_limit(R"(too many connections for role "([^"]*)\")");
  std::smatch m;
  if (std::regex_search(reason, m, role_limit)) {
    const std::string role = m[1].str();
    const auto limit = role_connection_limit(dsn);
    const std::string stated = limit ? "CONNECTION LIMIT " + std::to_string(*limit) : "its CONNECTION LIMIT";
    std::string fewer = "use fewer --threads";
    if (limit && *limit > 2) fewer += " (at most " + std::to_string(*limit - 2) + ")";
    return "role \"" + role + "\" has reached its connection limit (" + stated +
           ") and pgrace opens one connection per --threads worker plus 2 (plus one per worker for "
           "shared-pool scenarios): " +
           fewer + ", or raise it with ALTER ROLE \"" + role + "\" CONNECTION LIMIT n";
  }
  if (reason.find("too many connections for database") != std::string::npos)
    return reason +
           " (the database's CONNECTION LIMIT): use fewer --threads, or raise it with ALTER DATABASE ... "
           "CONNECTION LIMIT n";
  if (reason.find("too many clients already") != std::string::npos ||
      reason.find("remaining connection slots are reserved") != std::string::npos)
    return reason + " (the server's max_connections is reached): use fewer --threads, or raise max_connections";
  if (reason.find("password authentication failed") != std::string::npos)
    return reason + " (check the user and password of the DSN)";
  return reason +
         " (check that the server is up and the DSN is right, or omit --dsn to let pgrace start an "
         "ephemeral server)";
}

}  // namespace

void remember_role_connection_limit(const std::string& dsn, int limit) {
  RoleLimits& known = role_limits();
  std::lock_guard lock(known.mutex);
  known.limits[role_key(dsn)] = limit;
}

Error lost_connection_error(const std::string& which, const std::string& scenario, const std::string& cause,
                            const std::string& dsn) {
  std::string why = pgrace::one_line(scrub_secrets(cause, dsn));
  if (why.find("terminating connection due to administrator command") != std::string::npos)
    why = "the server ended its session (pg_terminate_backend, or a shutdown)";
  else if (why.empty() || why.find("not connected") != std::string::npos ||
           why.find("server closed the connection unexpectedly") != std::string::npos)
    why = "the server closed it (pg_terminate_backend, a crash or restart, or the network)";
  else if (why.size() > 200)
    why = why.substr(0, 200) + "...";
  return infrastructure_error("lost the connection of " + which + " to the server while running " + scenario + ": " +
                              why + " (check the server and its log, then run again)");
}

}  // namespace detail

std::unique_ptr<pqxx::connection> connect(const std::string& dsn) {
  validate_dsn(dsn);
  try {
    return std::make_unique<pqxx::connection>(dsn);
  } catch (const std::exception& e) {
    const std::string reason = pgrace::one_line(scrub_secrets(e.what(), dsn));
    throw infrastructure_error("cannot connect to " + redact_dsn(dsn) + ": " + detail::refusal_and_fix(reason, dsn));
  }
}

}  // namespace pgrace
