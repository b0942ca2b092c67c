#include "commands.hpp"

namespace pgrace::cli {

Selected add_commands(CLI::App& app) {
  auto selected = std::make_shared<std::function<int()>>();
  add_list_command(app, selected);
  add_run_command(app, selected);
  add_explore_command(app, selected);
  add_matrix_command(app, selected);
  add_spec_command(app, selected);
  add_server_command(app, selected);
  add_smoke_command(app, selected);
  add_clean_command(app, selected);
  return selected;
}

void add_dsn_option(CLI::App& command, std::optional<std::string>& dsn) {
  command.add_option("--dsn", dsn,
                     "PostgreSQL connection string (URL or key=value); default $PGRACE_DSN, then "
                     "$DATABASE_URL, else an ephemeral server");
}

}  // namespace pgrace::cli
