#include "keep.hpp"

#include <unistd.h>

#include "pgrace/dsn.hpp"
#include "server/dsn_rewrite.hpp"
#include "server/signals.hpp"

namespace pgrace::cli {
namespace {

// `text` in double quotes for a POSIX shell.
std::string shell_quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\' || c == '$' || c == '`') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

void add_keep_option(CLI::App& command, bool& keep) {
  command.add_flag("--keep", keep,
                   "On a violation keep the scenario's database with its state (stress: of the first violating "
                   "repetition, the run stops there; explore: of the reproducer, replayed), print a psql command "
                   "per kept database and keep the ephemeral server running until Ctrl-C");
}

std::string psql_command(const Server& server, const std::string& database) {
  const std::string conninfo =
      detail::dsn_with_parameters(server.dsn(), {{"dbname", database}}, {"password", "sslpassword"});
  return "psql " + shell_quoted(conninfo);
}

void hold_kept(std::ostream& out, const Server& server, const RunReport& report) {
  int kept = 0;
  for (const ScenarioResult& r : report.scenarios) {
    if (!r.kept) continue;
    ++kept;
    out << "kept " << r.info.name << "'s database " << r.kept->database << ", " << r.kept->state
        << "; open it with:\n  " << psql_command(server, r.kept->database) << "\n";
  }
  if (kept == 0) {
    out << "--keep: nothing violated, nothing kept\n" << std::flush;
    return;
  }
  if (dsn_parameter(server.dsn(), "password"))
    out << "(the connection string's password is not printed: set PGPASSWORD, or use your ~/.pgpass)\n";
  if (std::string(server.source()) == "dsn") {
    out << "the database" << (kept == 1 ? " stays" : "s stay") << " on the server: pgrace clean --dsn ... (or DROP "
        << "DATABASE) removes " << (kept == 1 ? "it" : "them") << "\n"
        << std::flush;
    return;
  }
  wait_for_termination_signal([&] {
    out << "pgrace: kept the server (pid " << server.pid() << ") for inspection; press Ctrl-C (or kill -INT "
        << getpid() << ") to stop it and delete everything\n"
        << std::flush;
  });
}

}  // namespace pgrace::cli
