#pragma once
// Session settings every pgrace connection to a scenario database gets.
// Internal to pgrace.

#include <chrono>
#include <optional>
#include <pqxx/connection>
#include <string>

#include "pgrace/knobs.hpp"

namespace pgrace::detail {

// Sets the default isolation level, statement_timeout (`statement_timeout_s`
// seconds, 0: none; so that no statement hangs forever), application_name
// `name`, and deadlock_timeout `deadlock_timeout` where allowed (superuser).
// Returns the deadlock_timeout in force, as SHOW prints it ("10ms", "1s").
std::string prepare_session(pqxx::connection& connection, Isolation isolation, const std::string& name,
                            double statement_timeout_s,
                            std::chrono::milliseconds deadlock_timeout = std::chrono::milliseconds(10));

// The application_name of worker `w`'s session ("pgrace-worker-<w>"): the
// wire proxy's gates tell the workers' requests by it.
std::string worker_session_name(int w);

// A duration as SHOW prints it ("10ms", "1s", "2min", "1h"), or nullopt for
// any other text.
std::optional<std::chrono::milliseconds> parse_show_duration(const std::string& text);

}  // namespace pgrace::detail
