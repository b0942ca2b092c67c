#pragma once
// Where pgrace's PostgreSQL comes from: an existing server named by a
// connection string, or (the default) an ephemeral local server that pgrace
// starts for the run and removes afterwards.

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace pgrace {

namespace detail {
class EphemeralCluster;
}

// Settings of an ephemeral server. The defaults are what pgrace runs with.
struct EphemeralServerOptions {
  int max_connections = 600;              // --threads up to 256, each with a pool connection
  std::string deadlock_timeout = "10ms";  // PostgreSQL's default is 1s
  std::chrono::milliseconds ready_timeout{30000};
  // Server settings given after pgrace's own (postgres -c name=value), so
  // they override them: e.g. {"lock_timeout", "50ms"}, {"max_connections",
  // "50"}. Names are letters, digits, '_' and '.'; values have no control
  // characters (Server::open() refuses others, and a name or value the
  // server refuses, with pgrace::Error (usage)).
  std::map<std::string, std::string> settings{};
};

// How long provisioning an ephemeral server took, in milliseconds.
struct ProvisionTimings {
  bool cache_hit = false;  // false: this start ran initdb to fill the template cache
  double initdb_ms = 0;    // 0 on a cache hit
  double copy_ms = 0;      // copying the cached template cluster
  double start_ms = 0;     // from launching postgres to its accepting connections
  double total_ms = 0;
};

// Throws pgrace::Error (usage) unless `name` is a setting name (letters,
// digits, '_' and '.') and `value` is not empty and has no control characters.
void check_server_setting(const std::string& name, const std::string& value);

class Server {
 public:
  // Connects to `dsn` if given, else starts an ephemeral server.
  // Throws pgrace::Error (infrastructure) when the DSN is invalid or
  // unreachable (within PGCONNECT_TIMEOUT, default 5 s) or the ephemeral server
  // cannot be started; messages are redacted. Use resolve_dsn() (dsn.hpp) to
  // apply --dsn / $PGRACE_DSN / $DATABASE_URL precedence first.
  static std::unique_ptr<Server> open(const std::optional<std::string>& dsn,
                                      const EphemeralServerOptions& options = {});

  // Stops an ephemeral server and removes its directory; a DSN server is
  // left alone. Thread-safe with the Ctrl-C handler.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Connection string of the server's maintenance database. May contain a
  // password: never print it, print display_dsn().
  const std::string& dsn() const { return dsn_; }
  // The connection string with passwords replaced by "***".
  std::string display_dsn() const;
  // "ephemeral" or "dsn".
  const char* source() const { return cluster_ ? "ephemeral" : "dsn"; }
  // The server's version, e.g. "15.18 (Debian 15.18-0+deb12u1)".
  const std::string& version() const { return version_; }
  // Provisioning timings; all zero for a DSN server.
  const ProvisionTimings& timings() const { return timings_; }
  // The settings the ephemeral server was started with
  // (EphemeralServerOptions::settings); empty for a DSN server.
  const std::map<std::string, std::string>& settings() const { return settings_; }
  // The ephemeral server's instance directory, which holds its data
  // directory: ours and private (mode 0700; 0710 for the server account's
  // group when pgrace runs as root and the server as `postgres`), or "".
  std::string directory() const;
  // The ephemeral server's log file, in directory(), or "" for a DSN
  // server. Its lines start with a millisecond timestamp, the backend's pid
  // and (for sessions) application@database (see EphemeralServerOptions).
  std::string log_file() const;
  // The pid of the ephemeral server's postmaster, or 0 for a DSN server.
  long pid() const;

 private:
  Server() = default;
  std::string dsn_;
  std::string version_;
  ProvisionTimings timings_;
  std::map<std::string, std::string> settings_;
  std::unique_ptr<detail::EphemeralCluster> cluster_;
};

}  // namespace pgrace
