#include "wire/socket.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>

#include "pgrace/dsn.hpp"
#include "pgrace/error.hpp"

namespace pgrace::detail {
namespace {

using Clock = std::chrono::steady_clock;

// libpq's compiled-in defaults (Debian's and upstream's).
constexpr const char* kDefaultSocketDirectory = "/var/run/postgresql";
constexpr const char* kDefaultPort = "5432";

// `key` of `dsn`, else the environment variable libpq reads for it; "" if neither.
std::string parameter_or_env(const std::string& dsn, const char* key, const char* variable) {
  if (auto value = dsn_parameter(dsn, key); value && !value->empty()) return *value;
  const char* env = std::getenv(variable);
  return env ? env : "";
}

std::string first_of_list(const std::string& list) { return list.substr(0, list.find(',')); }

// Waits until a non-blocking connect on `fd` finished; returns 0 or the errno.
int await_connect(int fd, int stop_fd, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return ETIMEDOUT;
    pollfd fds[2] = {{fd, POLLOUT, 0}, {stop_fd, POLLIN, 0}};
    const int ready = poll(fds, 2, static_cast<int>(left));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return errno;
    if (fds[1].revents) return ECANCELED;
    if (fds[0].revents) break;
  }
  int error = 0;
  socklen_t length = sizeof error;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) return errno;
  return error;
}

// Connects a new non-blocking socket of `family` to `address`; returns it, or an empty
// UniqueFd with the errno in `error`.
UniqueFd connect_socket(int family, const sockaddr* address, socklen_t length, int stop_fd,
                        std::chrono::milliseconds timeout, int& error) {
  UniqueFd fd(socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) {
    error = errno;
    return fd;
  }
  error = connect(fd.get(), address, length) == 0 ? 0 : errno;
  // (EAGAIN, a unix socket's full backlog, fails at once, as it does for libpq.)
  if (error == EINPROGRESS) error = await_connect(fd.get(), stop_fd, timeout);
  if (error != 0) return UniqueFd();
  if (family != AF_UNIX) {
    const int on = 1;
    setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  }
  return fd;
}

std::optional<sockaddr_un> unix_address(const std::string& path) {
  sockaddr_un address{};
  if (path.size() >= sizeof address.sun_path) return std::nullopt;
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  return address;
}

UniqueFd connect_tcp(const ServerAddress& address, int stop_fd, std::chrono::milliseconds timeout, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int status = getaddrinfo(address.host.c_str(), address.port.c_str(), &hints, &found); status != 0) {
    error = "cannot resolve " + address.described() + ": " + gai_strerror(status);
    return UniqueFd();
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> list(found, &freeaddrinfo);
  int last_error = 0;
  for (const addrinfo* ai = found; ai; ai = ai->ai_next) {
    UniqueFd fd = connect_socket(ai->ai_family, ai->ai_addr, ai->ai_addrlen, stop_fd, timeout, last_error);
    if (fd) return fd;
  }
  error = "cannot connect to " + address.described() + ": " + std::strerror(last_error);
  return UniqueFd();
}

}  // namespace

ServerAddress server_address(const std::string& dsn) {
  validate_dsn(dsn);
  ServerAddress address;
  address.port = first_of_list(parameter_or_env(dsn, "port", "PGPORT"));
  if (address.port.empty()) address.port = kDefaultPort;
  const std::string hostaddr = first_of_list(parameter_or_env(dsn, "hostaddr", "PGHOSTADDR"));
  std::string host = first_of_list(parameter_or_env(dsn, "host", "PGHOST"));
  if (!hostaddr.empty()) host = hostaddr;
  if (host.empty()) host = kDefaultSocketDirectory;
  if (host.front() == '/')
    address.socket_path = host + "/.s.PGSQL." + address.port;
  else
    address.host = host;
  return address;
}

UniqueFd connect_to(const ServerAddress& address, int stop_fd, std::chrono::milliseconds timeout, std::string& error) {
  if (!address.host.empty()) return connect_tcp(address, stop_fd, timeout, error);
  const auto socket_address = unix_address(address.socket_path);
  if (!socket_address) {
    error = "the server's socket path is too long: " + address.socket_path;
    return UniqueFd();
  }
  int last_error = 0;
  UniqueFd fd = connect_socket(AF_UNIX, reinterpret_cast<const sockaddr*>(&*socket_address), sizeof *socket_address,
                               stop_fd, timeout, last_error);
  if (!fd) error = "cannot connect to " + address.described() + ": " + std::strerror(last_error);
  return fd;
}

UniqueFd listen_at(const std::string& path) {
  const auto address = unix_address(path);
  if (!address) throw infrastructure_error("the wire proxy's socket path is too long: " + path);
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd || bind(fd.get(), reinterpret_cast<const sockaddr*>(&*address), sizeof *address) != 0 ||
      listen(fd.get(), SOMAXCONN) != 0)
    throw infrastructure_error("cannot listen on " + path + ": " + std::strerror(errno));
  return fd;
}

}  // namespace pgrace::detail
