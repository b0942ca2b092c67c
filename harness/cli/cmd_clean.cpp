// pgrace clean: removes the per-run databases that killed pgrace runs left on
// a server of the user's, and those --keep kept, and lists those it must keep.

#include <iostream>

#include "commands.hpp"
#include "pgrace/dsn.hpp"
#include "pgrace/error.hpp"
#include "pgrace/report.hpp"
#include "server/leftovers.hpp"

namespace pgrace::cli {

void add_clean_command(CLI::App& app, const Selected& selected) {
  auto* command = app.add_subcommand(
      "clean",
      "Drop the databases that killed pgrace runs or --keep left on a server (--dsn) and whose process is gone");
  auto dsn = std::make_shared<std::optional<std::string>>();
  add_dsn_option(*command, *dsn);
  command->callback([selected, dsn] {
    *selected = [dsn] {
      for (const auto& dir : remove_orphaned_proxy_directories())
        std::cout << "removed " << dir.string() << ": a wire proxy's directory whose pgrace process is gone\n";
      const auto resolved = resolve_dsn(*dsn);
      if (!resolved)
        throw usage_error(
            "nothing to clean without a server of your own: pass --dsn DSN (or set PGRACE_DSN or "
            "DATABASE_URL); an ephemeral server is removed whole");
      int removed = 0, kept = 0;
      for (const LeftoverDatabase& database : remove_leftover_databases(*resolved, Leftovers::abandoned_and_kept)) {
        std::cout << terminal_text((database.removed ? "removed " : "kept    ") + database.name + ": " +
                                   database.reason)
                  << "\n";  // the reason may quote a session's application_name
        ++(database.removed ? removed : kept);
      }
      std::cout << "removed " << removed << ", kept " << kept << " database" << (removed + kept == 1 ? "" : "s")
                << " left by pgrace runs on " << redact_dsn(*resolved) << "\n";
      return 0;
    };
  });
}

}  // namespace pgrace::cli
