#pragma once
// Opening connections with pgrace's error handling.

#include <memory>
#include <pqxx/connection>
#include <string>

namespace pgrace {

// Opens a connection to `dsn`. Throws pgrace::Error (infrastructure) with a
// redacted one-line message if the server cannot be reached or refuses,
// naming the fix (a wrong password, a role's CONNECTION LIMIT, the server's
// max_connections, ...).
std::unique_ptr<pqxx::connection> connect(const std::string& dsn);

}  // namespace pgrace
