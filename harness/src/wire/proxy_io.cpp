#include "wire/proxy_io.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace pgrace::detail {
namespace {

constexpr std::size_t kReadChunk = 64 * 1024;
// What one wait reads from a side at most, and how much a side's inbox may
// hold from reads made while flushing the other side.
constexpr std::size_t kReadBurst = 256 * 1024;
constexpr std::size_t kDrainBound = 4 * 1024 * 1024;

}  // namespace

void ByteQueue::consume(std::size_t n) {
  head_ += n;
  if (head_ == data_.size()) {
    data_.clear();
    head_ = 0;
  } else if (head_ > kReadBurst && head_ * 2 > data_.size()) {
    data_.erase(0, head_);
    head_ = 0;
  }
}

ProxySockets::ProxySockets(UniqueFd client, int stop_fd) : stop_fd_(stop_fd) { client_.fd = std::move(client); }

void ProxySockets::read_available(End& e) {
  char buffer[kReadChunk];
  for (std::size_t total = 0; total < kReadBurst;) {
    const ssize_t n = recv(e.fd.get(), buffer, sizeof buffer, MSG_DONTWAIT);
    if (n > 0) {
      e.inbox.append(buffer, static_cast<std::size_t>(n));
      total += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) e.ended = true;
    return;
  }
}

bool ProxySockets::readable(const End& e, bool bounded) const {
  return e.fd && !e.ended && (!bounded || e.inbox.size() < kDrainBound);
}

bool ProxySockets::flush(Side side) {
  End& to = end(side);
  End& from = other(side);
  std::size_t sent = 0;
  while (sent < to.outbox.size()) {
    const ssize_t n = send(to.fd.get(), to.outbox.data() + sent, to.outbox.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
    const bool drain = readable(from, true);
    pollfd fds[3] = {{to.fd.get(), POLLOUT, 0}, {stop_fd_, POLLIN, 0}, {drain ? from.fd.get() : -1, POLLIN, 0}};
    if (poll(fds, 3, -1) < 0 && errno != EINTR) return false;
    if (fds[1].revents) return false;
    if (fds[2].revents) {
      read_available(from);
      drained_ = true;
    }
  }
  to.outbox.clear();
  return true;
}

bool ProxySockets::wait(bool client, bool server) {
  const bool watch_client = client && readable(client_, false);
  const bool watch_server = server && readable(server_, false);
  pollfd fds[3] = {{stop_fd_, POLLIN, 0},
                   {watch_client ? client_.fd.get() : -1, POLLIN, 0},
                   {watch_server ? server_.fd.get() : -1, POLLIN, 0}};
  for (;;) {
    if (poll(fds, 3, -1) >= 0) break;
    if (errno != EINTR) return false;
  }
  if (fds[0].revents) return false;
  if (fds[1].revents) read_available(client_);
  if (fds[2].revents) read_available(server_);
  return true;
}

bool ProxySockets::pause(std::chrono::milliseconds duration, int cut_fd) {
  pollfd fds[2] = {{stop_fd_, POLLIN, 0}, {cut_fd, POLLIN, 0}};
  const auto deadline = std::chrono::steady_clock::now() + duration;
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return true;
    const int ready = poll(fds, 2, static_cast<int>(left.count()));
    if (ready > 0) return !fds[0].revents;
    if (ready < 0 && errno != EINTR) return false;
  }
}

}  // namespace pgrace::detail
