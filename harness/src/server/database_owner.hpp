#pragma once
// Names of the databases a pgrace process makes on a server (one per scenario
// run, one while building a template) that identify the process, so that a
// later pgrace can tell whether it still runs:
//   pgrace_<kind>_<machine>_<pid>_<start>_<n>
// <machine> stands for this boot of this machine's process-id space (boot id
// and pid namespace), <start> is the process's start time (clock ticks since
// boot; it tells a reused pid apart), <n> counts within the process.
// Internal to pgrace.

#include <string>

namespace pgrace::detail {

// The comment (COMMENT ON DATABASE) that marks a run's database kept by
// --keep: runs never remove it as a leftover; pgrace clean does once its
// process is gone.
inline constexpr char kKeptComment[] = "kept by pgrace --keep";

// A new name of `kind` ("run" or "build") for a database that this process
// owns; no other process, here or elsewhere, gets the same. Thread-safe.
std::string owned_database_name(const std::string& kind);

enum class OwnerState {
  running,    // made by a process of this machine that still runs
  gone,       // made by a process of this machine that has exited
  elsewhere,  // made on another machine or in another container: pgrace cannot tell
  unknown,    // not a name owned_database_name() gives (e.g. made by an older pgrace)
};

struct DatabaseOwner {
  OwnerState state = OwnerState::unknown;
  long pid = 0;  // 0 when unknown
};

// Who made database `name` and whether that process still runs. A process
// whose start time cannot be read counts as running.
DatabaseOwner database_owner(const std::string& name);

}  // namespace pgrace::detail
