// proxy_relay: keeps a wire proxy (harness/src/wire/proxy.hpp, recording
// only, no gate) in front of a server, so that another client (pgbench, in
// bench/compare_proxy_pgbench.sh) can connect both ways and compare.
//
//   proxy_relay [DSN]
//
// Without DSN it starts pgrace's ephemeral server (as `pgrace server` does);
// with one it relays to that server. Once ready it prints one line per
// value, a name, a space and the value (a parameter the connection string
// does not set has no line; a password is never printed):
//
//   server <version> (ephemeral|dsn)
//   direct_host <the server's host or socket directory>
//   direct_port <the server's port>
//   proxy_host <the proxy's socket directory>
//   proxy_port <the proxy's port>
//   user <user>
//   dbname <database>
//   ready
//
// It then stays up until its standard input reaches end of file (or fails)
// or it gets SIGTERM, SIGINT or SIGHUP; then it closes the proxy (every
// connection, and its directory), stops the ephemeral server (and removes its
// directory) and exits 0. Exit 2: bad command line; 3: no server or no proxy.
// Give a password the DSN holds to the client yourself: the proxy relays
// authentication unchanged.

#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pgrace/error.hpp"
#include "pgrace/server.hpp"
#include "wire/proxy.hpp"

namespace {

// The signals that stop the relay.
sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

// Prints "<prefix><name> <value>" for each of `names` that `dsn` sets.
// Throws pgrace::Error (infrastructure) for an unparsable dsn; its text is
// not shown, since it may hold a password.
void print_parameters(const std::string& dsn, const std::string& prefix, const std::vector<std::string>& names) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(dsn.c_str(), &error);
  PQfreemem(error);
  if (!options) throw pgrace::infrastructure_error("proxy_relay: cannot parse the connection string");
  for (const std::string& name : names)
    for (PQconninfoOption* o = options; o->keyword; ++o)
      if (name == o->keyword && o->val && *o->val) std::cout << prefix << name << ' ' << o->val << '\n';
  PQconninfoFree(options);
}

// Blocks until standard input reaches end of file or fails, or one of
// `signals` (blocked in every thread, see main) arrives. Input is read and
// discarded.
void wait_until_told_to_stop(const sigset_t& signals) {
  const int signal_fd = signalfd(-1, &signals, SFD_CLOEXEC);
  if (signal_fd < 0) throw pgrace::infrastructure_error("proxy_relay: signalfd failed");
  pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {signal_fd, POLLIN, 0}};
  for (;;) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents) break;
    if (fds[0].revents & POLLIN) {
      char buffer[512];
      const ssize_t n = read(STDIN_FILENO, buffer, sizeof buffer);
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) break;
    } else if (fds[0].revents) {
      break;  // POLLHUP without data, POLLERR, POLLNVAL (no stdin at all)
    }
  }
  close(signal_fd);
}

int relay(const std::optional<std::string>& dsn) {
  // The server first, so that it is destroyed after the proxy.
  const std::unique_ptr<pgrace::Server> server = pgrace::Server::open(dsn);
  const pgrace::detail::WireProxy proxy(server->dsn(), nullptr);
  std::cout << "server " << server->version() << " (" << server->source() << ")\n";
  print_parameters(server->dsn(), "direct_", {"host", "port"});
  print_parameters(proxy.proxied_dsn(server->dsn()), "proxy_", {"host", "port"});
  print_parameters(server->dsn(), "", {"user", "dbname"});
  std::cout << "ready" << std::endl;
  wait_until_told_to_stop(stop_signals());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
    std::cerr << "usage: proxy_relay [DSN]\n";
    return 2;
  }
  // Blocked before any thread starts, so the proxy's threads inherit the
  // mask and the signals wait for wait_until_told_to_stop() (also when they
  // come while the server starts). The server's processes unblock them.
  const sigset_t signals = stop_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  try {
    return relay(argc == 2 ? std::optional<std::string>(argv[1]) : std::nullopt);
  } catch (const pgrace::Error& e) {
    std::cerr << "proxy_relay: " << e.what() << '\n';
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    std::cerr << "proxy_relay: " << e.what() << '\n';
    return 3;
  }
}
