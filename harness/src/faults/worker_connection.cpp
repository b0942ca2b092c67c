#include "faults/worker_connection.hpp"

#include "faults/rules.hpp"

namespace pgrace::detail {

WorkerConnection::WorkerConnection(Opener open, std::shared_ptr<FaultedConnections> drops, int worker,
                                   bool watch_commits)
    : open_(std::move(open)),
      drops_(std::move(drops)),
      worker_(worker),
      watch_(watch_commits ? std::make_unique<CommitWatch>() : nullptr),
      connection_(open_set_up()),
      pid_(connection_->backendpid()) {
  if (watch_) watch_->attach(*connection_);
}

std::unique_ptr<pqxx::connection> WorkerConnection::open_set_up() {
  if (!drops_) return open_();
  struct SettingUp {
    FaultedConnections& gate;
    int worker;
    ~SettingUp() { gate.set_up(worker, false); }
  } setting_up{*drops_, worker_};
  drops_->set_up(worker_, true);
  return open_();
}

void WorkerConnection::take_dropped() {
  if (!drops_) return;
  if (auto lost = drops_->take_dropped(worker_)) {
    dropped_ = std::move(lost);
    lost_ = true;
  }
}

pqxx::connection& WorkerConnection::get() {
  take_dropped();
  if (lost_) {
    connection_.reset();  // closed before its replacement opens
    dropped_.reset();     // handled: a failure from here on (opening included) is a new event
    connection_ = open_set_up();
    if (watch_) watch_->attach(*connection_);
    pid_ = connection_->backendpid();
    lost_ = false;
  }
  return *connection_;
}

void WorkerConnection::forget_drop() {
  take_dropped();
  dropped_.reset();
}

Outcome WorkerConnection::judged(const Outcome& outcome) {
  take_dropped();
  if (outcome.kind != OutcomeClass::connection_lost || !dropped_) return outcome;
  return dropped_outcome(*dropped_);
}

}  // namespace pgrace::detail
