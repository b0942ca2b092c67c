#pragma once
// Databases that pgrace runs leave on a server of the user's (--dsn) when
// they are killed (SIGKILL, a crash): each run's database is named after the
// process that made it, so a later pgrace can tell whether that process still
// runs. Runs remove such leftovers before their first database on a server;
// `pgrace clean` does it on demand and lists the rest.

#include <filesystem>
#include <string>
#include <vector>

namespace pgrace {

// One database that some pgrace process made on the server for a run (or
// while building a template).
struct LeftoverDatabase {
  std::string name;
  bool removed = false;
  std::string reason;  // one line: why it was removed or kept, and if kept what to do
};

// Which databases remove_leftover_databases() may drop: those of killed
// runs only (what every run does before its first database on a server), or
// also those kept by --keep (pgrace clean).
enum class Leftovers { abandoned, abandoned_and_kept };

// Drops the per-run databases on the server at `dsn` whose pgrace process is
// gone: made on this machine (same boot, same pid namespace) by a process
// that has exited, and that nobody is connected to. Keeps every other one:
// a process still running, one on another machine or in another container
// (pgrace cannot tell whether that run is over), one made by an older
// pgrace, one kept by --keep (unless `which` includes those), one the role
// may not drop, one with sessions in it (named: pid, user, application,
// client; pgrace never ends a session it did not open). Returns each
// database seen, with what was done. Never touches templates (pgrace_tpl_*)
// or databases pgrace did not make. Throws pgrace::Error (infrastructure)
// if the server cannot be reached. Thread-safe.
std::vector<LeftoverDatabase> remove_leftover_databases(const std::string& dsn, Leftovers which);

// Removes the private directories that wire proxies of pgrace processes
// that are gone (killed: SIGKILL, a crash) left under the base directory
// (see WireProxy()): those that belong to us and whose owner.lock nobody
// holds. Never one of a running pgrace; follows no link. Returns their
// paths. Never throws.
std::vector<std::filesystem::path> remove_orphaned_proxy_directories();

}  // namespace pgrace
