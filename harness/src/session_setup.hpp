#pragma once
// Session settings every pgrace connection to a scenario database gets.
// Internal to pgrace.

#include <pqxx/connection>
#include <string>

#include "pgrace/knobs.hpp"

namespace pgrace::detail {

// Sets the default isolation level, statement_timeout (`statement_timeout_s`
// seconds, 0: none; so that no statement hangs forever), application_name
// `name`, and deadlock_timeout 10ms where allowed (superuser). Returns the
// deadlock_timeout in force.
std::string prepare_session(pqxx::connection& connection, Isolation isolation, const std::string& name,
                            double statement_timeout_s);

}  // namespace pgrace::detail
