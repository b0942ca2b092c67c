#pragma once
// Changing parameters of a connection string. Internal to pgrace (the
// public pgrace::dsn_with_database is one use).

#include <string>
#include <utility>
#include <vector>

namespace pgrace::detail {

// `dsn` rewritten as a key=value string without the parameters named in
// `drop` or `set`, followed by those of `set` in order. The other parameters,
// the password included, are kept. Throws pgrace::Error like validate_dsn
// (dsn.hpp) for an unparsable dsn.
std::string dsn_with_parameters(const std::string& dsn, const std::vector<std::pair<std::string, std::string>>& set,
                                const std::vector<std::string>& drop = {});

}  // namespace pgrace::detail
