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

struct SpawnOptions {
  Account account;
  std::filesystem::path log;              // stdout and stderr are appended here
  std::filesystem::path pid_marker_dir;   // if set, the child creates <dir>/<its pid> before exec
  bool own_process_group = false;         // so the terminal's Ctrl-C does not reach it
};

// Starts argv[0] (an absolute path) with `argv`. Returns the child's pid.
// Throws pgrace::Error if fork fails. exec failures show up as exit code 127.
pid_t spawn(const std::vector<std::string>& argv, const SpawnOptions& options);

// Waits for `pid` to exit and returns its exit status (128+signal if killed).
int wait_for_exit(pid_t pid);

// Returns the exit status if `pid` has exited, nullopt if it still runs.
std::optional<int> poll_exit(pid_t pid);

// Sends `sig`, waits up to `grace` for the exit, then SIGKILLs and reaps.
void terminate_and_reap(pid_t pid, int sig, std::chrono::milliseconds grace);

// Runs `argv` to completion; returns its exit status.
int run(const std::vector<std::string>& argv, const SpawnOptions& options);

// The last `lines` lines of file `path`, joined by " | " ("" if unreadable).
std::string tail_of_file(const std::filesystem::path& path, int lines);

}  // namespace pgrace::detail
