#pragma once
// The connection settings a worker process is given. Internal to pgrace.

#include <map>
#include <string>

namespace pgrace::files {

// `dsn` (a key=value string with host, port, user, dbname and maybe
// password) as a postgresql:// URL that libpq (psycopg), node-postgres and
// other URL parsers accept unchanged: every part percent-encoded, a socket
// directory as the host (%2F...), application_name = `application_name`
// and sslmode=disable in the query. Throws pgrace::Error like
// dsn_parameter() for an unparsable dsn.
std::string database_url(const std::string& dsn, const std::string& application_name);

// The libpq variables for the same connection: PGHOST, PGPORT, PGUSER,
// PGDATABASE, PGPASSWORD (if there is one), PGAPPNAME, PGSSLMODE.
std::map<std::string, std::string> libpq_environment(const std::string& dsn, const std::string& application_name);

}  // namespace pgrace::files
