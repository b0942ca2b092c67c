#pragma once
// The ephemeral PostgreSQL server: a private copy of a cached, already
// initdb'd template cluster on tmpfs, reachable only through a unix socket in
// a private directory. Internal to pgrace; users see pgrace::Server.

#include <sys/types.h>

#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "pgrace/server.hpp"
#include "server/instance_cleanup.hpp"
#include "server/process.hpp"
#include "server/watchdog.hpp"

namespace pgrace::detail {

// The installed PostgreSQL server programs.
struct ServerBinaries {
  std::filesystem::path bindir;  // holds postgres and initdb
  std::string version_line;      // `postgres --version`
};

// Finds the newest installed server: $PGRACE_PG_BINDIR, else
// /usr/lib/postgresql/<major>/bin, else postgres and initdb on PATH.
// Throws pgrace::Error (infrastructure) naming the package to install.
ServerBinaries find_server_binaries();

class EphemeralCluster {
 public:
  // Removes orphaned instances (see server/watchdog.hpp), then provisions and
  // starts the server; blocks until it accepts connections. Throws
  // pgrace::Error: usage when PGRACE_TMPDIR is unusable (relative, missing,
  // too long for a unix socket path), infrastructure otherwise (with the
  // cause: initdb's error, the tail of the server log); nothing is left
  // behind on failure.
  explicit EphemeralCluster(const EphemeralServerOptions& options);
  // Stops the server and removes its directory.
  ~EphemeralCluster();

  // Idempotent and thread-safe: immediate shutdown, then removal of every
  // process, shared memory segment and file of the instance.
  void stop() noexcept;

  const std::string& dsn() const { return dsn_; }
  const ProvisionTimings& timings() const { return timings_; }
  const std::filesystem::path& directory() const { return dir_; }
  // The postmaster's pid; -1 once stopped.
  pid_t pid();
  // The server's log (its stdout and stderr), a file of ours in directory().
  std::filesystem::path log_file() const { return dir_ / "server.log"; }

 private:
  void create_instance(const std::filesystem::path& base);
  void make_server_directory(const char* name);
  void fill_template_cache(const ServerBinaries& bin, const std::filesystem::path& cached);
  // Moves the cached template cluster aside and removes it if it is not what
  // pgrace stored (see the manifest in ephemeral_cluster.cpp), saying so in
  // one line on stderr.
  void discard_if_corrupt(const std::filesystem::path& cached);
  void copy_template(const std::filesystem::path& cached);
  void launch(const ServerBinaries& bin, const EphemeralServerOptions& options);
  // Starts a program as the server account in the instance directory,
  // unless stop() ran; then the process is ending, and this waits for that.
  pid_t spawn_unless_stopped(const std::vector<std::string>& argv, const SpawnOptions& options);
  // Runs a program to completion (see spawn_unless_stopped); returns its exit status.
  int run_unless_stopped(const std::vector<std::string>& argv, const SpawnOptions& options);

  Account account_;
  std::filesystem::path dir_;  // see server/instance_cleanup.hpp for its layout
  InstanceRef instance_;
  std::string dsn_;
  ProvisionTimings timings_;
  pid_t postmaster_ = -1;
  int lock_fd_ = -1;  // held while the instance is ours
  Watchdog watchdog_;
  int cleanup_handle_ = -1;  // registration with the Ctrl-C handler
  std::mutex stop_mutex_;    // guards stopped_ and postmaster_ against stop() from the Ctrl-C handler
  bool stopped_ = false;
};

}  // namespace pgrace::detail
