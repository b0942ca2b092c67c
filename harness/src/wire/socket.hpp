#pragma once
// Sockets for the wire proxy: where the server
// is (read from a connection string, as libpq would), connecting to it, and
// the proxy's listening unix socket. Internal to pgrace.

#include <chrono>
#include <string>

#include "server/unique_fd.hpp"

namespace pgrace::detail {

// Where a server listens: a unix socket file, or a TCP host (name or
// address) and port.
struct ServerAddress {
  std::string socket_path;  // set for a unix socket
  std::string host;         // else these
  std::string port;
  // For messages: the socket path, or host:port. Holds no secret.
  std::string described() const { return socket_path.empty() ? host + ":" + port : socket_path; }
};

// The address libpq would connect to first for `dsn`: its host or hostaddr
// and port, else $PGHOST/$PGHOSTADDR/$PGPORT, else libpq's defaults (the unix
// socket directory /var/run/postgresql, port 5432); of a list of hosts, the
// first. Throws pgrace::Error (infrastructure, redacted) for an unparsable dsn.
ServerAddress server_address(const std::string& dsn);

// A connected, non-blocking, close-on-exec socket to `address` (TCP_NODELAY
// for TCP), or an empty UniqueFd with `error` set. Gives up after `timeout`,
// or when `stop_fd` becomes readable.
UniqueFd connect_to(const ServerAddress& address, int stop_fd, std::chrono::milliseconds timeout, std::string& error);

// A non-blocking unix socket listening at `path` (the file must not exist).
// Throws pgrace::Error (infrastructure).
UniqueFd listen_at(const std::string& path);

}  // namespace pgrace::detail
