#pragma once
// Session settings every pgrace connection to a scenario database gets.
// Internal to pgrace.

#include <pqxx/connection>
#include <string>

#include "pgrace/knobs.hpp"

namespace pgrace::detail {

// Sets the default isolation level, a 30 s statement_timeout (nothing hangs
// forever) and application_name `name`.
void prepare_session(pqxx::connection& connection, Isolation isolation, const std::string& name);

// Lowers deadlock_timeout to 10ms where allowed (superuser); returns the value in force.
std::string lower_deadlock_timeout(pqxx::connection& connection);

}  // namespace pgrace::detail
