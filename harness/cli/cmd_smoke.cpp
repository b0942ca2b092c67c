// pgrace smoke: provision a server, run one query, report how long it took.

#include <iomanip>
#include <iostream>
#include <pqxx/nontransaction>

#include "commands.hpp"
#include "pgrace/connection.hpp"
#include "pgrace/dsn.hpp"
#include "pgrace/server.hpp"

namespace pgrace::cli {

void add_smoke_command(CLI::App& app, const Selected& selected) {
  auto* command =
      app.add_subcommand("smoke", "Start (or connect to) the server, run one query, print version and timings");
  auto dsn = std::make_shared<std::optional<std::string>>();
  add_dsn_option(*command, *dsn);
  command->callback([selected, dsn] {
    *selected = [dsn] {
      auto server = Server::open(resolve_dsn(*dsn));
      auto connection = connect(server->dsn());
      pqxx::nontransaction tx(*connection);
      const auto answer = tx.exec("SELECT 6 * 7")[0][0].as<int>();
      const ProvisionTimings& t = server->timings();
      std::cout << std::fixed << std::setprecision(1) << "server:   PostgreSQL " << server->version() << " ("
                << server->source() << ", " << server->display_dsn() << ")\n"
                << "query:    SELECT 6 * 7 = " << answer << "\n";
      if (std::string(server->source()) == "ephemeral")
        std::cout << "provision: " << t.total_ms << " ms to first query ("
                  << (t.cache_hit ? "cached template" : "initdb " + std::to_string(int(t.initdb_ms)) + " ms")
                  << ", copy " << t.copy_ms << " ms, start " << t.start_ms << " ms)\n";
      return answer == 42 ? 0 : 3;
    };
  });
}

}  // namespace pgrace::cli
