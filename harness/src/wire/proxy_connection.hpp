#pragma once
// One connection through the wire proxy (wire/proxy.hpp): relays the
// startup and authentication exchange untouched, then frames the client's
// requests (a Query, a FunctionCall, or extended-protocol messages up to a
// Sync) and ends each at the server's ReadyForQuery, consulting the gate
// before sending a request and recording it afterwards. Bytes are never
// changed; what the proxy does not frame (COPY data, Terminate, messages it
// does not know) passes through as it comes. Internal to pgrace.

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "wire/proxy_io.hpp"
#include "wire/request.hpp"
#include "wire/request_builder.hpp"
#include "wire/request_history.hpp"
#include "wire/socket.hpp"

namespace pgrace::detail {

// The replies that delay_reply faults hold back now, and the switch that
// cuts every hold short: those held when it is thrown and every later one.
// Thread-safe.
class ReplyHolds {
 public:
  // A client whose reply is held now.
  struct Held {
    std::string client;  // the connection's application_name
    std::chrono::milliseconds delay{0};
  };

  // Throws pgrace::Error (infrastructure) if it cannot make its eventfd.
  ReplyHolds();
  // Holds `client`'s reply for `delay`, or until cut(): true then; false if
  // `io`'s proxy stops first.
  bool hold(const std::string& client, std::chrono::milliseconds delay, ProxySockets& io);
  void cut();
  std::vector<Held> held() const;

 private:
  UniqueFd cut_;  // an eventfd, readable once cut
  mutable std::mutex mutex_;
  std::vector<Held> held_;
};

// What every connection of one proxy shares; outlives the connections.
struct ProxyContext {
  ServerAddress server;
  RequestGate* gate = nullptr;  // may be null
  RequestHistory* history = nullptr;
  ReplyHolds* holds = nullptr;
  int stop_fd = -1;  // readable once the proxy stops
};

class ProxyConnection {
 public:
  ProxyConnection(UniqueFd client, const ProxyContext& context);

  // Relays until either side closes, a fault drops the connection, or the
  // proxy stops; then closes both sockets. A request in flight at that point
  // is recorded as not completed. Never throws.
  void run() noexcept;

 private:
  // Reads the client's startup packet (answering SSL and GSS encryption
  // requests with 'N', forwarding a CancelRequest on a connection of its
  // own) and forwards its StartupMessage to a new server connection.
  // False when the connection is over.
  bool start();
  // The next startup-phase packet, length included; "" if the client sent none (or a malformed one).
  std::string read_startup_packet();
  void forward_cancel(const std::string& packet);
  bool connect_server();
  void relay();

  // Handle what was read from each side as far as the state allows; false when the connection is over.
  bool handle_server();
  bool handle_client();
  bool on_server_message(const std::string& message);
  bool on_request_message(const std::string& message);
  bool on_ready_for_query(const std::string& message);
  // Starts the request made of the pending messages; `open`: more of its messages follow (it was flushed, not synced).
  bool send_request(bool open);
  // Sends a server message (or part of one) the way the request in flight's fault says.
  void deliver_reply(std::string_view bytes);
  // Queues a held (delayed) reply for the client once its delay passed; false when stopping.
  bool release_held_reply();
  void finish_request();
  // Whether client messages are read now (they wait while a request runs, except COPY data and the rest of an open
  // batch).
  bool accepting_client() const { return !ready_ || !in_flight_ || copy_in_ || open_batch_; }
  // Whether the client message of this type passes through as it comes instead of being buffered as part of a request.
  bool streams_client_message(char type) const;

  const ProxyContext& context_;
  ProxySockets io_;
  std::string application_name_;
  int backend_pid_ = 0;
  bool ready_ = false;           // the server's first ReadyForQuery was seen
  std::size_t server_left_ = 0;  // body bytes of a server message being streamed
  std::size_t client_left_ = 0;  // body bytes of a client message being streamed

  RequestBuilder builder_;
  std::string pending_;  // the client's messages of a request not yet sent
  WireRequest request_;  // the request in flight
  Fault fault_;
  bool in_flight_ = false;
  bool open_batch_ = false;  // the request was flushed before its Sync: its remaining messages follow
  bool copy_in_ = false;     // the server asked for COPY data
  bool holding_ = false;     // the reply is held (delay_reply) in held_
  std::string held_;
};

}  // namespace pgrace::detail
