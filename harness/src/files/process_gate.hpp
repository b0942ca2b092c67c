#pragma once
// What pgrace learns from, and does to, the requests of a scenario file's
// worker processes at the wire proxy: it tells the workers apart by their
// connections' application_name (worker_session_name()), releases their
// transactions together (a barrier held at the wire) and classifies every
// transaction's outcome from what passes (COMMIT, ROLLBACK, SQLSTATE, a
// connection that ended). Internal to pgrace.

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "pgrace/knobs.hpp"
#include "pgrace/outcome.hpp"
#include "wire/request.hpp"

namespace pgrace::files {

// The outcomes of one repetition's transactions, as the wire showed them.
struct WireOutcomes {
  std::map<OutcomeClass, long> outcomes;  // one per transaction
  std::map<std::string, long> sqlstates;  // one per failed request
  std::optional<Outcome> first_failure;
  std::string first_code_error;      // "worker 2: 42P01 ..." (pgrace::is_code_error())
  std::vector<double> latencies_ms;  // per transaction ended: from its first request's start to its last's end
};

// A transaction starts with a request that runs something on a connection
// that is idle (outside a transaction block): an explicit BEGIN, or a
// statement in autocommit mode, which is a transaction of its own. With
// Sync::round every such request waits until every worker still running
// sent one (each worker's first one with Sync::start), or `hold_limit`
// passed: a worker that does something else for that long (e.g. sleeps)
// does not hang the others. A transaction whose connection ended first is
// connection_dropped, or indeterminate when it was its COMMIT whose reply
// an injected drop_reply fault lost. Thread-safe: the proxy calls it on
// each connection's thread.
class ProcessGate final : public detail::RequestGate {
 public:
  // `faults`, if not null, is asked for each request's fault once it passed
  // the barrier, and told of its end (a FaultGate: --fault); it must outlive
  // the gate.
  ProcessGate(int workers, Sync sync, std::chrono::milliseconds hold_limit, detail::RequestGate* faults = nullptr);

  detail::Fault before_request(const detail::WireRequest& request) override;
  void after_request(const detail::WireRequest& request) override;

  // Worker w (0-based) exited: it no longer counts at the barrier.
  void exited(int w);
  // What the repetition's transactions ended in; a transaction still open
  // then counts as connection_dropped.
  WireOutcomes outcomes() const;

 private:
  struct Connection {
    char status = 'I';                  // the transaction status after its last request
    std::string sqlstate;               // the first error of the transaction in progress
    detail::Clock::time_point began{};  // its first request started
  };
  int worker_of(const std::string& client) const;
  void hold(const detail::WireRequest& request);
  void arrive(int worker, std::unique_lock<std::mutex>& lock);
  void end_transaction(int worker, const std::string& sqlstate, bool rolled_back, detail::Clock::time_point began,
                       detail::Clock::time_point ended);

  const int workers_;
  const Sync sync_;
  const std::chrono::milliseconds hold_limit_;
  detail::RequestGate* const faults_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::set<int> exited_;
  std::set<int> arrived_;  // at the barrier of this generation
  std::set<int> started_;  // sent a first transaction (Sync::start)
  long generation_ = 0;
  std::map<int, Connection> connections_;  // by backend pid
  WireOutcomes seen_;
};

}  // namespace pgrace::files
