#pragma once
// A worker's own connection, which pgrace's fault injection may drop: the
// next get() after mark_lost() opens a new one the way the first was opened
// (session settings, the scenario's prepare()), as a production pool hands
// out a fresh connection after an error. Internal to pgrace.

#include <atomic>
#include <functional>
#include <memory>
#include <pqxx/connection>

namespace pgrace::detail {

class WorkerConnection {
 public:
  using Opener = std::function<std::unique_ptr<pqxx::connection>()>;

  // Opens the first connection now; throws what `open` throws.
  explicit WorkerConnection(Opener open);

  // The connection; a new one if the last was marked lost. Only the thread
  // that uses the connection calls it. Throws what opening throws.
  pqxx::connection& get();
  // The connection was dropped: get() replaces it. Same thread as get().
  void mark_lost() { lost_ = true; }
  // Its backend's pid (that of the newest connection). Any thread.
  int backend_pid() const { return pid_.load(); }
  // Whether the connection is open and not marked lost. Call while no thread uses it.
  bool is_open() const { return !lost_ && connection_->is_open(); }

 private:
  Opener open_;
  std::unique_ptr<pqxx::connection> connection_;
  std::atomic<int> pid_{0};
  bool lost_ = false;
};

}  // namespace pgrace::detail
