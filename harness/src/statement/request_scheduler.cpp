#include "statement/request_scheduler.hpp"

#include <algorithm>
#include <cctype>
#include <utility>

#include "faults/rules.hpp"

namespace pgrace::detail {

RequestScheduler::RequestScheduler(std::vector<std::string> clients)
    : clients_(std::move(clients)),
      spots_(clients_.size(), WorkerSpot::running),
      granted_(clients_.size(), false),
      pending_begin_(clients_.size(), false),
      in_flight_(clients_.size(), -1),
      chosen_(clients_.size(), 0),
      setting_up_(clients_.size(), false),
      dropped_(clients_.size()) {}

int RequestScheduler::worker_of(const std::string& client) const {
  const auto it = std::find(clients_.begin(), clients_.end(), client);
  return it == clients_.end() ? -1 : static_cast<int>(it - clients_.begin());
}

// BEGIN or START TRANSACTION with nothing after it but its modes: it takes
// no snapshot and no lock, so where it runs changes nothing.
bool RequestScheduler::is_bare_begin(const std::string& sql) {
  std::string word;
  for (char c : sql) {
    if (std::isalpha(static_cast<unsigned char>(c)))
      word += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    else if (!word.empty())
      break;
  }
  return (word == "BEGIN" || word == "START") && sql.find(';') == std::string::npos;
}

Fault RequestScheduler::before_request(const WireRequest& request) {
  std::unique_lock lock(mutex_);
  const int w = worker_of(request.client);
  if (!armed_ || w < 0 || setting_up_[w]) return {};
  pending_begin_[w] = is_bare_begin(request.sql) || !request.executes;
  spots_[w] = WorkerSpot::pending;
  ++generation_;
  changed_.notify_all();
  changed_.wait(lock, [&] { return granted_[w] || !armed_; });
  granted_[w] = false;
  if (!armed_) return {};
  in_flight_[w] = static_cast<int>(record_.size());
  const bool chosen = !pending_begin_[w];
  record_.push_back({w, request, chosen, false, -1, chosen ? ++chosen_[w] : 0, {}});
  spots_[w] = WorkerSpot::in_flight;
  ++generation_;
  changed_.notify_all();
  const bool planned = fault_ && chosen && fault_->worker == w && fault_->ordinal == chosen_[w];
  if (!planned || !targets(fault_->rule, request)) return {};
  fault_injected_ = true;
  return fault_of(fault_->rule);
}

void RequestScheduler::after_request(const WireRequest& request) {
  std::lock_guard lock(mutex_);
  const int w = worker_of(request.client);
  if (w >= 0 && (request.fault == FaultKind::drop_before_send || request.fault == FaultKind::drop_reply))
    dropped_[w] = request;
  if (w < 0 || in_flight_[w] < 0) return;
  ScheduledRequest& entry = record_[in_flight_[w]];
  entry.request = request;
  entry.completed_as = request.completed ? completed_++ : -1;
  in_flight_[w] = -1;
  if (spots_[w] == WorkerSpot::in_flight) spots_[w] = WorkerSpot::running;
  ++generation_;
  changed_.notify_all();
}

std::optional<WireRequest> RequestScheduler::take_dropped(int w) {
  std::lock_guard lock(mutex_);
  return std::exchange(dropped_[w], std::nullopt);
}

bool RequestScheduler::fault_injected() const {
  std::lock_guard lock(mutex_);
  return fault_injected_;
}

void RequestScheduler::set_up(int w, bool on) {
  std::lock_guard lock(mutex_);
  setting_up_[w] = on;
}

void RequestScheduler::arm(std::optional<PlannedFault> fault) {
  std::lock_guard lock(mutex_);
  armed_ = true;
  fault_ = std::move(fault);
  fault_injected_ = false;
  std::fill(chosen_.begin(), chosen_.end(), 0);
  std::fill(spots_.begin(), spots_.end(), WorkerSpot::running);
  std::fill(granted_.begin(), granted_.end(), false);
  std::fill(in_flight_.begin(), in_flight_.end(), -1);
  record_.clear();
  completed_ = 0;
  ++generation_;
}

void RequestScheduler::disarm() {
  std::lock_guard lock(mutex_);
  armed_ = false;
  ++generation_;
  changed_.notify_all();
}

void RequestScheduler::finish(int w) {
  std::lock_guard lock(mutex_);
  spots_[w] = WorkerSpot::finished;
  ++generation_;
  changed_.notify_all();
}

RequestScheduler::Snapshot RequestScheduler::snapshot() const {
  std::lock_guard lock(mutex_);
  return {spots_, generation_};
}

void RequestScheduler::wait_for_change(long generation, Clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  changed_.wait_until(lock, deadline, [&] { return generation_ != generation; });
}

void RequestScheduler::grant(int w) {
  std::lock_guard lock(mutex_);
  granted_[w] = true;
  spots_[w] = WorkerSpot::in_flight;  // from now on, not pending: the gate's thread may wake later
  ++generation_;
  changed_.notify_all();
}

bool RequestScheduler::pending_begin(int w) const {
  std::lock_guard lock(mutex_);
  return spots_[w] == WorkerSpot::pending && pending_begin_[w];
}

void RequestScheduler::mark_waiting(int w, const std::vector<int>& blockers) {
  std::lock_guard lock(mutex_);
  if (in_flight_[w] < 0) return;
  ScheduledRequest& request = record_[in_flight_[w]];
  if (!request.waited) request.blocked_by = blockers;
  request.waited = true;
}

std::vector<ScheduledRequest> RequestScheduler::record() const {
  std::lock_guard lock(mutex_);
  return record_;
}

int RequestScheduler::last_backend_pid(int w) const {
  std::lock_guard lock(mutex_);
  for (auto it = record_.rbegin(); it != record_.rend(); ++it)
    if (it->worker == w && it->request.backend_pid != 0) return it->request.backend_pid;
  return 0;
}

}  // namespace pgrace::detail
