// pgrace server: starts the ephemeral server and keeps it until Ctrl-C, for
// poking at a scenario's database by hand with psql.

#include <iomanip>
#include <iostream>

#include "commands.hpp"
#include "pgrace/server.hpp"
#include "server/signals.hpp"

namespace pgrace::cli {

void add_server_command(CLI::App& app, const Selected& selected) {
  auto* command = app.add_subcommand("server",
                                     "Start an ephemeral PostgreSQL server, print its connection string, keep it "
                                     "running until Ctrl-C");
  command->callback([selected] {
    *selected = [] {
      auto server = Server::open(std::nullopt);
      wait_for_termination_signal([&] {
        std::cout << std::fixed << std::setprecision(1) << "PostgreSQL " << server->version() << " ready in "
                  << server->timings().total_ms << " ms; connect with:\n  psql \"" << server->display_dsn()
                  << "\"\nPress Ctrl-C to stop it and remove " << server->directory() << "\n"
                  << std::flush;
      });
      server.reset();
      std::cout << "stopped\n";
      return 0;
    };
  });
}

}  // namespace pgrace::cli
