#pragma once
// Session settings every pgrace connection to a scenario database gets.
// Internal to pgrace.

#include <pqxx/connection>
#include <string>

#include "pgrace/knobs.hpp"

namespace pgrace::detail {

// Sets the default isolation level, a 30 s statement_timeout (nothing hangs
// forever), application_name `name`, and deadlock_timeout 10ms where allowed
// (superuser). Returns the deadlock_timeout in force.
std::string prepare_session(pqxx::connection& connection, Isolation isolation, const std::string& name);

}  // namespace pgrace::detail
