#pragma once
// Who removes an ephemeral server's instance when pgrace cannot: its
// watchdog, when pgrace dies (SIGKILL); a later pgrace, when both pgrace and
// the watchdog die (a cgroup or OOM kill). Internal to pgrace.
//
// Ownership is a lock: pgrace and its watchdog hold an flock on the
// instance's owner.lock, in a directory that belongs to the pgrace user, for
// as long as either lives. An instance whose lock nobody holds is an orphan.
// The wire proxy's private directories are owned the same way (by pgrace
// alone: no watchdog), and reaped with reap_orphaned().

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <string>

#include "server/instance_cleanup.hpp"

namespace pgrace::detail {

// Creates `dir`/owner.lock and takes its lock. Returns the descriptor, which
// holds the lock until closed. Throws pgrace::Error (infrastructure).
int lock_instance(const std::filesystem::path& dir);

struct Watchdog {
  pid_t pid = -1;
  int pipe = -1;  // close it to tell the watchdog that pgrace is gone
};

// Starts the watchdog of `instance`: a process that waits until the returned
// pipe closes (pgrace stopped the server, exited, or was killed), then calls
// remove_instance() unless the directory is already gone, and exits. It holds
// `lock_fd` meanwhile. Throws pgrace::Error (infrastructure) if it cannot.
Watchdog start_watchdog(const InstanceRef& instance, int lock_fd);

// Calls `remove` on each orphaned directory under `base`: one named
// `prefix`XXXXXX (as mkdtemp makes it) that belongs to us and whose
// owner.lock nobody holds; it holds that lock meanwhile. Directories of a
// running pgrace, links and other accounts' directories are never touched.
void reap_orphaned(const std::filesystem::path& base, const std::string& prefix,
                   const std::function<void(const std::filesystem::path&)>& remove);

// Removes the orphaned instances under `base` (directories pgrace-XXXXXX,
// see reap_orphaned()), whose servers run as `account`.
void reap_orphaned_instances(const std::filesystem::path& base, const Account& account);

}  // namespace pgrace::detail
