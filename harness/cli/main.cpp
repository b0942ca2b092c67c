// pgrace: concurrency race detection for code that talks to PostgreSQL.
// One file per subcommand (cmd_*.cpp); this file wires them together and maps
// errors to exit codes.

#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>

#include "commands.hpp"
#include "pgrace/error.hpp"
#include "pgrace/signals.hpp"

int main(int argc, char** argv) {
  pgrace::install_termination_handler();
  std::signal(SIGPIPE, SIG_IGN);  // a lost server connection is an error to report, not a crash
  CLI::App app{"pgrace: finds races in transaction code by running it concurrently against a real "
               "PostgreSQL and checking invariants"};
  app.set_version_flag("--version", "pgrace " PGRACE_VERSION);
  app.require_subcommand(1);
  pgrace::cli::Selected selected = pgrace::cli::add_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "pgrace: " << e.what() << " (see pgrace --help)\n";
    return static_cast<int>(pgrace::ExitCode::usage);
  }
  try {
    return (*selected)();
  } catch (const pgrace::Error& e) {
    std::cerr << "pgrace: " << e.what() << "\n";
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    std::cerr << "pgrace: internal error: " << e.what() << "\n";
    return static_cast<int>(pgrace::ExitCode::infrastructure);
  }
}
