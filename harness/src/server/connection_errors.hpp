#pragma once
// What pgrace says when a connection cannot be opened or breaks. Internal to
// pgrace (connect() in pgrace/connection.hpp uses it).

#include <string>

#include "pgrace/error.hpp"

namespace pgrace::detail {

// Records the connection limit (pg_roles.rolconnlimit, -1 for none) of the
// role that `dsn` logs in as, so that connect() can state it when the server
// refuses a connection because of it. Thread-safe.
void remember_role_connection_limit(const std::string& dsn, int limit);

// The error (infrastructure) for a connection that broke while pgrace used
// it: `which` names it ("worker 3", "the monitor"), `scenario` the scenario
// being run, `cause` is what libpq or libpqxx said (scrubbed against `dsn`;
// libpqxx's "not connected" wording is replaced by what it means). One line.
Error lost_connection_error(const std::string& which, const std::string& scenario, const std::string& cause,
                            const std::string& dsn);

}  // namespace pgrace::detail
