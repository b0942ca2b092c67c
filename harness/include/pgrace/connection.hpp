#pragma once
// Opening connections with pgrace's error handling.

#include <pqxx/connection>
#include <memory>
#include <string>

namespace pgrace {

// Opens a connection to `dsn`. Throws pgrace::Error (infrastructure) with a
// redacted one-line message if the server cannot be reached or refuses.
std::unique_ptr<pqxx::connection> connect(const std::string& dsn);

}  // namespace pgrace
