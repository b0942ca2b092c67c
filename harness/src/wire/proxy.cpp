#include "wire/proxy.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "pgrace/error.hpp"
#include "server/base_directory.hpp"
#include "server/dsn_rewrite.hpp"
#include "server/instance_cleanup.hpp"
#include "server/leftovers.hpp"
#include "server/termination.hpp"
#include "server/watchdog.hpp"

namespace pgrace::detail {
namespace {

namespace fs = std::filesystem;

// The name of a proxy's directory, before mkdtemp's six characters.
// The proxy's "port" only names its socket file.
constexpr int kProxyPort = 5432;
// A unix socket path is at most 107 bytes (sun_path holds 108 with the NUL).
constexpr std::size_t kMaxSocketPath = 107;

std::string socket_name() { return ".s.PGSQL." + std::to_string(kProxyPort); }

UniqueFd make_stop_fd() {
  UniqueFd fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!fd) throw infrastructure_error(std::string("cannot create the wire proxy's eventfd: ") + std::strerror(errno));
  return fd;
}

}  // namespace

WireProxy::PrivateDirectory::PrivateDirectory() {
  const BaseDirectory base = base_directory();
  if (!base.path.is_absolute())
    throw base.error(base.described() + " is not an absolute path: set PGRACE_TMPDIR to an absolute directory");
  pgrace::remove_orphaned_proxy_directories();
  std::string pattern = (base.path.lexically_normal() / (std::string(kProxyDirectoryPrefix) + "XXXXXX")).string();
  if (pattern.size() + 1 + socket_name().size() > kMaxSocketPath)
    throw base.error(base.described() + " is too long for the wire proxy's unix socket path (at most " +
                     std::to_string(kMaxSocketPath) + " bytes): set PGRACE_TMPDIR to a shorter directory");
  if (!mkdtemp(pattern.data()))  // mode 0700, ours
    throw base.error("cannot create a private directory under " + base.described() + ": " + std::strerror(errno));
  path_ = pattern;
  try {
    lock_ = lock_instance(path_);
    cleanup_ = register_cleanup([path = path_] { remove_own_directory(path.c_str()); });
  } catch (...) {
    remove();
    throw;
  }
}

WireProxy::PrivateDirectory::~PrivateDirectory() { remove(); }

void WireProxy::PrivateDirectory::remove() noexcept {
  if (std::exchange(removed_, true)) return;
  if (cleanup_ >= 0) unregister_cleanup(cleanup_);
  remove_own_directory(path_.c_str());
  if (lock_ >= 0) close(lock_);
}

WireProxy::WireProxy(const std::string& server_dsn, RequestGate* gate)
    : stop_(make_stop_fd()),
      listener_(listen_at((directory_.path() / socket_name()).string())),
      context_{server_address(server_dsn), gate, &history_, &holds_, stop_.get()} {
  acceptor_ = std::thread([this] { accept_loop(); });
}

void WireProxy::stop() noexcept {
  const std::uint64_t one = 1;
  while (write(stop_.get(), &one, sizeof one) < 0 && errno == EINTR) {
  }
  directory_.remove();
}

WireProxy::~WireProxy() {
  stop();
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<Served> served;
  {
    std::lock_guard lock(served_mutex_);
    served.swap(served_);
  }
  for (auto& connection : served) connection.thread.join();
}

std::string WireProxy::proxied_dsn(const std::string& dsn) const {
  return dsn_with_parameters(dsn,
                             {{"host", directory_.path().string()},
                              {"port", std::to_string(kProxyPort)},
                              {"sslmode", "disable"},
                              {"gssencmode", "disable"}},
                             {"hostaddr", "requiressl"});
}

void WireProxy::accept_loop() {
  pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
  for (;;) {
    if (poll(fds, 2, -1) < 0 && errno != EINTR) return;
    if (fds[1].revents) return;
    if (!(fds[0].revents & POLLIN)) continue;
    UniqueFd client(accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!client) {
      const bool exhausted = errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM;
      if (exhausted && poll(&fds[1], 1, 100) != 0) return;  // let connections end before trying again
      continue;
    }
    join_finished();
    try {
      serve(std::move(client));
    } catch (const std::exception&) {
      // No thread for it (out of resources): the client's socket was closed.
    }
  }
}

void WireProxy::serve(UniqueFd client) {
  auto done = std::make_shared<std::atomic<bool>>(false);
  std::lock_guard lock(served_mutex_);
  served_.push_back({std::thread(), done});
  try {
    served_.back().thread = std::thread([this, done, client = std::move(client)]() mutable {
      ProxyConnection(std::move(client), context_).run();
      done->store(true);
    });
  } catch (...) {
    served_.pop_back();
    throw;
  }
}

void WireProxy::join_finished() {
  std::lock_guard lock(served_mutex_);
  for (auto it = served_.begin(); it != served_.end();) {
    if (!it->done->load()) {
      ++it;
      continue;
    }
    it->thread.join();
    it = served_.erase(it);
  }
}

}  // namespace pgrace::detail
