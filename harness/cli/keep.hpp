#pragma once
// --keep on run and explore: after the reports are written, how to open
// each database kept with a violation's state, and (on pgrace's ephemeral
// server) the server kept running until a termination signal.

#include <CLI/CLI.hpp>
#include <ostream>
#include <string>

#include "pgrace/report.hpp"
#include "pgrace/server.hpp"

namespace pgrace::cli {

// Adds --keep to `command`, storing into `keep`.
void add_keep_option(CLI::App& command, bool& keep);

// The psql command that opens database `database` on `server`: its host
// (the socket directory), port, user and the database, quoted for a POSIX
// shell, never a password.
std::string psql_command(const Server& server, const std::string& database);

// Prints, for each database `report` kept, a line naming it and what it
// holds and a psql command that opens it, or "nothing violated, nothing
// kept". With a kept database on an ephemeral server, then says so and
// blocks until SIGINT, SIGTERM or SIGHUP (from the terminal's Ctrl-C,
// kill or CI), whether or not stdin is a terminal; the caller then stops
// the server as usual. On a server of the user's (--dsn) it never waits and
// says how to remove the kept databases.
void hold_kept(std::ostream& out, const Server& server, const RunReport& report);

}  // namespace pgrace::cli
