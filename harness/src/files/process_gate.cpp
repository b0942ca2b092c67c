#include "files/process_gate.hpp"

#include "core/session_setup.hpp"
#include "faults/rules.hpp"

namespace pgrace::files {
ProcessGate::ProcessGate(int workers, Sync sync, std::chrono::milliseconds hold_limit, detail::RequestGate* faults)
    : workers_(workers), sync_(sync), hold_limit_(hold_limit), faults_(faults) {}

int ProcessGate::worker_of(const std::string& client) const {
  for (int w = 0; w < workers_; ++w)
    if (client == detail::worker_session_name(w)) return w;
  return -1;
}

detail::Fault ProcessGate::before_request(const detail::WireRequest& request) {
  hold(request);
  return faults_ ? faults_->before_request(request) : detail::Fault{};
}

// Holds a request that starts a transaction at the barrier.
void ProcessGate::hold(const detail::WireRequest& request) {
  const int worker = worker_of(request.client);
  std::unique_lock lock(mutex_);
  if (worker < 0 || !request.executes || connections_[request.backend_pid].status != 'I') return;
  if (sync_ == Sync::start && !started_.insert(worker).second) return;
  arrive(worker, lock);
}

// Holds `worker` until every worker still running arrived, or hold_limit_.
void ProcessGate::arrive(int worker, std::unique_lock<std::mutex>& lock) {
  const long generation = generation_;
  arrived_.insert(worker);
  const auto release = [this] {
    ++generation_;
    arrived_.clear();
    changed_.notify_all();
  };
  const auto all_there = [this] {
    std::set<int> counted = arrived_;
    counted.insert(exited_.begin(), exited_.end());
    return static_cast<int>(counted.size()) >= workers_;
  };
  if (all_there()) return release();
  if (!changed_.wait_for(lock, hold_limit_, [&] { return generation_ != generation; })) release();
}

void ProcessGate::exited(int w) {
  std::lock_guard lock(mutex_);
  exited_.insert(w);
  arrived_.erase(w);
  std::set<int> counted = arrived_;
  counted.insert(exited_.begin(), exited_.end());
  if (!arrived_.empty() && static_cast<int>(counted.size()) >= workers_) {
    ++generation_;
    arrived_.clear();
    changed_.notify_all();
  }
}

void ProcessGate::after_request(const detail::WireRequest& request) {
  if (faults_) faults_->after_request(request);
  const int worker = worker_of(request.client);
  if (worker < 0) return;
  std::lock_guard lock(mutex_);
  if (!request.sqlstate.empty()) {
    ++seen_.sqlstates[request.sqlstate];
    if (seen_.first_code_error.empty() && is_code_error(request.sqlstate))
      seen_.first_code_error = "worker " + std::to_string(worker + 1) + ": " + request.sqlstate + " in " + request.sql;
  }
  Connection& connection = connections_[request.backend_pid];
  const char before = connection.status;
  // The connection ended with the request in flight, or a fault dropped it:
  // the client never saw the reply.
  if (!request.completed || request.fault == FaultKind::drop_reply || request.fault == FaultKind::drop_before_send) {
    const bool lost_commit = request.fault == FaultKind::drop_reply && detail::is_commit(request.sql);
    if (before != 'I' || request.executes)
      ++seen_.outcomes[lost_commit ? OutcomeClass::indeterminate : OutcomeClass::connection_dropped];
    connections_.erase(request.backend_pid);
    return;
  }
  const char after = request.status;
  if (before == 'I' && after == 'I') {
    if (request.executes)  // a transaction of its own
      end_transaction(worker, request.sqlstate, false, request.started, request.ended);
  } else if (before == 'I') {
    connection.sqlstate = request.sqlstate;  // it began one
    connection.began = request.started;
  } else if (after == 'I') {
    end_transaction(worker, connection.sqlstate.empty() ? request.sqlstate : connection.sqlstate,
                    detail::is_rollback(request.sql), connection.began, request.ended);
  } else if (before == 'E' && after == 'T') {
    connection.sqlstate.clear();  // rolled back to a savepoint
  } else if (connection.sqlstate.empty()) {
    connection.sqlstate = request.sqlstate;
  }
  connection.status = after;
}

void ProcessGate::end_transaction(int worker, const std::string& sqlstate, bool rolled_back,
                                  detail::Clock::time_point began, detail::Clock::time_point ended) {
  seen_.latencies_ms.push_back(std::chrono::duration<double, std::milli>(ended - began).count());
  const OutcomeClass kind = !sqlstate.empty() ? classify_sqlstate(sqlstate)
                            : rolled_back     ? OutcomeClass::rejected
                                              : OutcomeClass::committed;
  ++seen_.outcomes[kind];
  if (!seen_.first_failure && !sqlstate.empty())
    seen_.first_failure = Outcome{kind, sqlstate, "worker " + std::to_string(worker + 1)};
}

WireOutcomes ProcessGate::outcomes() const {
  std::lock_guard lock(mutex_);
  WireOutcomes result = seen_;
  for (const auto& [pid, connection] : connections_)
    if (connection.status != 'I') ++result.outcomes[OutcomeClass::connection_dropped];
  return result;
}

}  // namespace pgrace::files
