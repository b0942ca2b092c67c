#pragma once
// The two sockets of one proxied connection (client and server), both
// non-blocking, with the bytes read from each and not yet handled and the
// bytes queued for each. Waiting never spins, and every wait also ends when
// the proxy is stopping (its stop descriptor becomes readable). Internal to
// pgrace (see wire/proxy_connection.hpp).

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "wire/socket.hpp"

namespace pgrace::detail {

// Bytes consumed from the front; appending may move them (views into it are
// valid until the next append).
class ByteQueue {
 public:
  std::string_view view() const { return std::string_view(data_).substr(head_); }
  std::size_t size() const { return data_.size() - head_; }
  void append(const char* bytes, std::size_t n) { data_.append(bytes, n); }
  void consume(std::size_t n);

 private:
  std::string data_;
  std::size_t head_ = 0;
};

enum class Side { client, server };

class ProxySockets {
 public:
  ProxySockets(UniqueFd client, int stop_fd);

  void attach_server(UniqueFd server) { server_.fd = std::move(server); }
  ByteQueue& inbox(Side side) { return end(side).inbox; }
  // Whether reading `side` met its end (EOF or an error).
  bool ended(Side side) const { return end(side).ended; }

  // Appends `bytes` to what goes to `side` at the next flush.
  void queue(Side side, std::string_view bytes) { end(side).outbox.append(bytes); }
  // Sends everything queued for `side`. While the socket is full it keeps
  // reading the other side into its inbox (up to a bound), so that neither
  // peer can block the other. False on an error or when stopping.
  bool flush(Side side);
  // Whether a flush read anything since the last call (those bytes are
  // waiting in an inbox: handle them before waiting for more).
  bool take_drained() { return std::exchange(drained_, false); }
  // Waits until a side asked for (`client`, `server`) has bytes or ends, and
  // reads what it has. False when stopping. At least one side asked for must
  // be readable (connected, not ended).
  bool wait(bool client, bool server);
  // Sleeps for `duration`, or until `cut_fd` is readable; false when
  // stopping (early).
  bool pause(std::chrono::milliseconds duration, int cut_fd);

 private:
  struct End {
    UniqueFd fd;
    ByteQueue inbox;
    std::string outbox;
    bool ended = false;
  };
  End& end(Side side) { return side == Side::client ? client_ : server_; }
  const End& end(Side side) const { return side == Side::client ? client_ : server_; }
  End& other(Side side) { return side == Side::client ? server_ : client_; }
  // Reads what `e` has now (at most a bounded amount).
  void read_available(End& e);
  // Whether `e` can be read; `bounded`: only while its inbox is below the drain bound.
  bool readable(const End& e, bool bounded) const;

  End client_, server_;
  int stop_fd_;
  bool drained_ = false;
};

}  // namespace pgrace::detail
