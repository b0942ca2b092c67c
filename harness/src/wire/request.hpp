#pragma once
// What the wire proxy (wire/proxy.hpp) reports and asks about each request
// of a proxied connection. A request is a simple Query, a FunctionCall, or a
// run of extended-protocol messages up to and including its Sync; it ends at
// the server's ReadyForQuery. Internal to pgrace.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "pgrace/faults.hpp"

namespace pgrace::detail {

using Clock = std::chrono::steady_clock;

// What to do with a request at its boundary: nothing (no kind), or one of
// the faults of pgrace/faults.hpp. drop_before_send closes both sockets, so
// nothing of the request reaches the server; drop_reply lets the server run
// it and closes the client's socket before its reply; delay_reply forwards
// the whole reply `delay` after its ReadyForQuery arrived.
struct Fault {
  std::optional<FaultKind> kind;
  std::chrono::milliseconds delay{0};  // delay_reply
};

// One request as the proxy saw it.
struct WireRequest {
  std::string client;   // the connection's application_name when the request started ("" if none)
  int backend_pid = 0;  // from the server's BackendKeyData
  // A Query's text; for an extended batch the Parse texts and, for each Bind of
  // a statement parsed earlier on this connection, that statement's text,
  // "; "-joined in message order; "" for a FunctionCall.
  std::string sql;
  // Every Bind's parameters in order, as text (binary ones as "\x<hex>"); nullopt for NULL.
  std::vector<std::optional<std::string>> params;
  Clock::time_point started{};  // its first byte was forwarded to the server (unset if never sent)
  // Its ReadyForQuery reached the proxy and (after a delay_reply's delay) was
  // about to be forwarded to the client; or the connection ended.
  Clock::time_point ended{};
  char status = 0;                 // ReadyForQuery's transaction status 'I', 'T' or 'E'; 0 if not completed
  std::string sqlstate;            // the first ErrorResponse's SQLSTATE ("" if none)
  bool completed = false;          // its ReadyForQuery reached the proxy
  bool executes = false;           // it runs something (a Query, an Execute, a FunctionCall), not only
                                   // Parse/Describe/Close (e.g. libpq preparing a statement)
  std::optional<FaultKind> fault;  // what the gate asked for (none: nothing)
};

// The proxy's hook. Called on the proxy's thread of a connection, so
// concurrently for different connections: implementations must be
// thread-safe. May block (a scheduler holds a request there until its turn);
// the caller must release every blocked call before destroying the proxy.
class RequestGate {
 public:
  virtual ~RequestGate() = default;
  // A complete request is about to be forwarded (nothing of it was sent yet).
  virtual Fault before_request(const WireRequest& request) = 0;
  // Its ReadyForQuery arrived, or the connection ended first (completed
  // false). Called (and the request recorded) before the client can see
  // the ReadyForQuery.
  virtual void after_request(const WireRequest& request) = 0;
};

}  // namespace pgrace::detail
