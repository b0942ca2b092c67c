#pragma once
// Child processes for the ephemeral server: spawning a program as the server's
// account, and waiting for it. Internal to pgrace.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace pgrace::detail {

// The account the PostgreSQL server runs as: ourselves, or, when we are root
// (which PostgreSQL refuses), the `postgres` account.
struct Account {
  uid_t uid;
  gid_t gid;
  bool switch_user;  // true when children must drop from root to uid/gid
};

// Returns the account to run the server as. Throws pgrace::Error when running
// as root and no `postgres` account exists.
Account server_account();

// Makes the calling process run as `account` (no-op unless switch_user).
// Async-signal-safe: for a child between fork and exec. Returns false on failure.
bool become(const Account& account) noexcept;

struct SpawnOptions {
  Account account;
  std::filesystem::path cwd;       // the child's working directory
  std::filesystem::path log;       // stdout (and stderr unless err_log) are appended here
  std::filesystem::path err_log;   // if set, stderr is appended here
  bool own_process_group = false;  // so the terminal's Ctrl-C does not reach it
};

// Starts argv[0] (an absolute path) with `argv`, with default signal
// handling and no signals blocked. Returns the child's pid once the child
// runs the program (so it is already in `cwd`). Throws pgrace::Error if fork
// fails. A failure to exec shows up as exit code 127, one to enter `cwd` or
// switch accounts as 126.
pid_t spawn(const std::vector<std::string>& argv, const SpawnOptions& options);

// Waits for `pid` to exit and returns its exit status (128+signal if killed).
int wait_for_exit(pid_t pid);

// Returns the exit status if `pid` has exited, nullopt if it still runs.
std::optional<int> poll_exit(pid_t pid);

// Sends `sig`, waits up to `grace` for the exit, then SIGKILLs and reaps.
void terminate_and_reap(pid_t pid, int sig, std::chrono::milliseconds grace);

// The last `lines` lines of file `path`, joined by " | " ("" if unreadable).
std::string tail_of_file(const std::filesystem::path& path, int lines);

// The line of a program's error output `path` that says why it failed: the
// first one reporting an error (a program's "error:", a PostgreSQL server's
// ERROR/FATAL/PANIC, from the level on), else the last non-blank one; ""
// if there is none.
std::string error_line_of_file(const std::filesystem::path& path);

}  // namespace pgrace::detail
