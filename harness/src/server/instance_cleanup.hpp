#pragma once
// Tearing down an ephemeral server's instance directory: stopping the
// processes that run in it, removing the shared memory they leave behind, and
// removing its files. Used by pgrace itself, by the watchdog when pgrace is
// gone, and by a later pgrace for instances whose owner and watchdog are both
// gone. Internal to pgrace.
//
// Nothing here trusts a file the server account can write. Processes are
// found in the process table (the server account's postgres, initdb and cp
// processes whose working directory is in the instance), System V segments by
// their PostgreSQL header (it names the data directory's device and inode),
// and everything that touches them runs as the server account, so it cannot
// reach anything that account could not reach itself.

#include <sys/types.h>

#include "server/process.hpp"

namespace pgrace::detail {

// The layout of an instance directory (which belongs to the pgrace user;
// mode 0700, or 0710 with the server account's group when that is another
// account): the server account's data directory, the data directory initdb
// fills on a cold template cache, the directory of the server's unix
// socket, and the lock its owner holds (see server/watchdog.hpp).
inline constexpr const char* kDataDir = "data";
inline constexpr const char* kTemplateDir = "template";
inline constexpr const char* kSocketDir = "socket";
inline constexpr const char* kOwnerLock = "owner.lock";

// An instance directory and the account its server runs as. Plain data, so
// it can be used after fork.
struct InstanceRef {
  char dir[256] = {};  // absolute path; the directory belongs to us (the pgrace user)
  Account account{};
};

// Builds an InstanceRef; throws pgrace::Error if `dir` is too long.
InstanceRef make_instance_ref(const std::string& dir, const Account& account);

// Stops every process of the instance (SIGTERM, which lets PostgreSQL
// remove its own shared memory; SIGQUIT after 2 s; SIGKILL after 4 s; gives up
// after 10 s), removes the instance's System V segments and the
// dynamic shared memory their control segments list, then the directory (its
// contents as the server account; the entries of the directory itself, which
// belong to us, as us). Keeps the directory's owner.lock when something could
// not be removed, so a later pgrace retries. Async-signal-safe; blocks until
// done.
void remove_instance(const InstanceRef& instance) noexcept;

// Removes the entries of `dir`, a directory that belongs to us (files,
// sockets and empty directories; no link is followed), then its owner.lock
// and the directory itself, unless something is left (then the lock stays,
// so a later pgrace retries). Does nothing if `dir` is a link or another
// account's. Async-signal-safe.
void remove_own_directory(const char* dir) noexcept;

}  // namespace pgrace::detail
