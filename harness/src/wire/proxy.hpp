#pragma once
// The wire proxy: connections made through it reach the server unchanged,
// byte for byte, while the proxy sees where each request starts and ends
// (see wire/request.hpp). It records every request per client, lets a gate
// hold a request before it is sent, and injects faults at request
// boundaries (a lost reply, a dropped connection, a delayed reply).
// Internal to pgrace.
//
// Threads: one accepts connections, one serves each connection (poll() on
// its two sockets); the gate is called on a connection's thread.

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "wire/proxy_connection.hpp"
#include "wire/request.hpp"
#include "wire/request_history.hpp"
#include "wire/socket.hpp"

namespace pgrace::detail {

class WireProxy {
 public:
  // The most requests history() keeps per client (the oldest go first).
  static constexpr std::size_t kHistoryLimit = 10000;

  // Listens on a unix socket in a new private directory (mode 0700, under
  // $PGRACE_TMPDIR, else /dev/shm, $TMPDIR or /tmp; removed on Ctrl-C and
  // SIGTERM too, and after a SIGKILL by the next proxy or `pgrace clean`,
  // see pgrace::remove_orphaned_proxy_directories()) and relays every
  // connection made to it to the server `server_dsn` names (unix socket or
  // TCP; the first host of a list). The proxy does not authenticate: it
  // relays the client's startup and authentication messages, so passwords
  // pass through, and it offers no TLS (proxied connections use
  // sslmode=disable). `gate` may be null (record only); it must outlive
  // the proxy. Throws pgrace::Error: usage when $PGRACE_TMPDIR is unusable
  // (too long for a socket path), infrastructure otherwise (an unparsable
  // DSN, no directory or socket); nothing is left behind then. The server is
  // only contacted when a client connects: a refused connection reaches that
  // client as a FATAL error 08006.
  WireProxy(const std::string& server_dsn, RequestGate* gate);
  // stop(), then joins every thread. Never throws. Every gate call that
  // blocks must have been released first: the proxy waits for it.
  ~WireProxy();
  WireProxy(const WireProxy&) = delete;
  WireProxy& operator=(const WireProxy&) = delete;

  // `dsn` (a connection string for the same server) rewritten to connect
  // through the proxy, as a key=value string: host = the proxy's directory,
  // port = its socket's, sslmode=disable, gssencmode=disable, no hostaddr;
  // the other parameters (password included) kept. Throws pgrace::Error
  // (infrastructure, redacted) for an unparsable dsn.
  std::string proxied_dsn(const std::string& dsn) const;
  // The proxy's private directory (it holds the socket).
  const std::filesystem::path& directory() const { return directory_.path(); }

  // Every finished request (completed or not) of the connections whose
  // application_name was `client` when the request started, in the order
  // they finished; at most kHistoryLimit. Thread-safe.
  std::vector<WireRequest> history(const std::string& client) const { return history_.of(client); }
  void clear_history() { history_.clear(); }

  // The replies a delay_reply fault holds back now, by the application_name
  // of their connection. Thread-safe.
  std::vector<ReplyHolds::Held> held_replies() const { return holds_.held(); }
  // From now on replies go without their delay: those held now at once,
  // later ones as they come. For a run that must end. Thread-safe.
  void cut_delays() { holds_.cut(); }
  // Stops accepting, closes every connection (a request in flight is
  // recorded as not completed; a held reply is dropped) and removes the
  // directory, without waiting for the connections' threads. For a run
  // that ends while threads it abandoned may still hold the proxy.
  // Idempotent; call it on the thread that owns the proxy. Never throws.
  void stop() noexcept;

 private:
  // Holds the lock of its directory (owner.lock, see watchdog.hpp) while
  // it lives, so that no other pgrace takes it for an orphan, and removes
  // it (with what is in it) on remove(), destruction, Ctrl-C or SIGTERM.
  class PrivateDirectory {
   public:
    PrivateDirectory();
    ~PrivateDirectory();
    PrivateDirectory(const PrivateDirectory&) = delete;
    PrivateDirectory& operator=(const PrivateDirectory&) = delete;
    const std::filesystem::path& path() const { return path_; }
    void remove() noexcept;

   private:
    std::filesystem::path path_;
    int lock_ = -1;
    int cleanup_ = -1;  // its termination cleanup (termination.hpp)
    bool removed_ = false;
  };
  struct Served {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };

  void accept_loop();
  void serve(UniqueFd client);
  void join_finished();

  RequestHistory history_{kHistoryLimit};
  ReplyHolds holds_;
  PrivateDirectory directory_;
  UniqueFd stop_;  // an eventfd, readable once the proxy stops
  UniqueFd listener_;
  ProxyContext context_;
  std::mutex served_mutex_;
  std::vector<Served> served_;
  std::thread acceptor_;
};

}  // namespace pgrace::detail
