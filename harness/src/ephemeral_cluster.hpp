#pragma once
// The ephemeral PostgreSQL server: a private copy of a cached, already
// initdb'd template cluster on tmpfs, reachable only through a unix socket in
// a 0700 directory. Internal to pgrace; users see pgrace::Server.

#include <sys/types.h>

#include <filesystem>
#include <mutex>
#include <string>

#include "pgrace/server.hpp"
#include "process.hpp"

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
  // Provisions and starts the server; blocks until it accepts connections.
  // Throws pgrace::Error (infrastructure), with the tail of the server log if
  // it did not come up; nothing is left behind on failure.
  explicit EphemeralCluster(const EphemeralServerOptions& options);
  // Stops the server and removes its directory.
  ~EphemeralCluster();

  // Idempotent and thread-safe: immediate shutdown, then directory removal.
  void stop() noexcept;

  const std::string& dsn() const { return dsn_; }
  const ProvisionTimings& timings() const { return timings_; }
  const std::filesystem::path& directory() const { return dir_; }

 private:
  void start_watchdog();
  void fill_template_cache(const ServerBinaries& bin, const std::filesystem::path& cached);
  void launch(const ServerBinaries& bin, const EphemeralServerOptions& options);

  Account account_;
  std::filesystem::path dir_;  // private 0700 directory: data/, socket, log, pids/
  std::string dsn_;
  ProvisionTimings timings_;
  pid_t postmaster_ = -1;
  pid_t watchdog_ = -1;
  int watchdog_pipe_ = -1;
  int cleanup_handle_ = -1;  // registration with the Ctrl-C handler  // write end; its closing tells the watchdog we are gone
  std::mutex stop_mutex_;
  bool stopped_ = false;
};

}  // namespace pgrace::detail
