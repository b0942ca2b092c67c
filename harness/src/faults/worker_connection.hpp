#pragma once
// A worker's own connection, which pgrace's fault injection may drop. The
// gate that dropped it says so (FaultedConnections); the worker's next get()
// then opens a new connection the way the first was opened (session
// settings, the scenario's prepare()), as a production pool hands out a
// fresh connection after an error, and judged() turns the lost connection
// into the transaction's outcome. Internal to pgrace.

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <pqxx/connection>

#include "pgrace/outcome.hpp"
#include "wire/commit_watch.hpp"
#include "wire/request.hpp"

namespace pgrace::detail {

// A fault gate as the workers' connections see it: which connections it
// dropped, and while which is being set up (its requests are then neither
// faulted nor held). Thread-safe.
class FaultedConnections {
 public:
  virtual ~FaultedConnections() = default;
  // The request at which worker `w`'s connection was dropped since the last
  // call, if any.
  virtual std::optional<WireRequest> take_dropped(int w) = 0;
  // Worker `w`'s connection is being set up (`on`), or no longer.
  virtual void set_up(int w, bool on) = 0;
};

class WorkerConnection {
 public:
  using Opener = std::function<std::unique_ptr<pqxx::connection>()>;

  // Opens the first connection now; throws what `open` throws. `drops`
  // (null: no fault injection) says when worker `worker`'s connection was
  // dropped, and is told while a connection is being opened.
  // With `watch_commits`, commits() watches every connection it opens.
  WorkerConnection(Opener open, std::shared_ptr<FaultedConnections> drops, int worker, bool watch_commits = false);

  // The connection; a new one if the last was dropped. Only the thread that
  // uses the connection calls get(), forget_drop() and judged(). Throws what
  // opening throws.
  pqxx::connection& get();
  // A transaction starts: drops before it no longer explain its outcome
  // (a connection dropped before is still replaced).
  void forget_drop();
  // How an attempt that ended with `outcome` ended, from the client's side:
  // a lost connection that fault injection caused since forget_drop() (and
  // that no get() has replaced since) is the
  // scenario's outcome (indeterminate or connection_dropped, see
  // dropped_outcome()), not an infrastructure error.
  Outcome judged(const Outcome& outcome);
  // Its backend's pid (that of the newest connection). Any thread.
  int backend_pid() const { return pid_.load(); }
  // Whether the connection is open and was not dropped. Call while no thread uses it.
  bool is_open() const { return !lost_ && connection_->is_open(); }
  // What its connections' transactions came to (null unless watched). Only
  // the thread that uses the connection.
  CommitWatch* commits() { return watch_.get(); }

 private:
  // Notes a drop the gate reported: the next get() reopens.
  void take_dropped();
  // A new connection from open_, set up out of the gate's reach.
  std::unique_ptr<pqxx::connection> open_set_up();

  Opener open_;
  std::shared_ptr<FaultedConnections> drops_;
  int worker_;
  std::unique_ptr<CommitWatch> watch_;  // before connection_: it outlives every connection it watches
  std::unique_ptr<pqxx::connection> connection_;
  std::atomic<int> pid_{0};
  bool lost_ = false;
  std::optional<WireRequest> dropped_;  // the request whose connection was dropped, since forget_drop()
};

}  // namespace pgrace::detail
