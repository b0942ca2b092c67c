#include "faults/gate.hpp"

#include <algorithm>
#include <utility>

#include "core/session_setup.hpp"

namespace pgrace::detail {

FaultGate::FaultGate(std::vector<FaultRule> rules, std::uint64_t seed, int workers)
    : rules_(std::move(rules)), seed_(seed), workers_(static_cast<std::size_t>(workers)) {}

int FaultGate::worker_of(const std::string& client) const {
  for (std::size_t w = 0; w < workers_.size(); ++w)
    if (client == worker_session_name(static_cast<int>(w))) return static_cast<int>(w);
  return -1;
}

Fault FaultGate::before_request(const WireRequest& request) {
  std::lock_guard lock(mutex_);
  const int w = worker_of(request.client);
  if (w < 0 || !request.executes) return {};
  WorkerFaults& worker = workers_[static_cast<std::size_t>(w)];
  // Only requests a rule targets are ranked: a COMMIT's place does not move
  // with the requests before it, whose number may depend on timing (an
  // attempt that a serialization failure ended).
  const auto targeted = [&request](const FaultRule& r) { return targets(r, request); };
  if (worker.setting_up || std::none_of(rules_.begin(), rules_.end(), targeted)) return {};
  const auto rule = draw_fault(rules_, seed_, {w, worker.iteration, worker.rank++, worker.repetition}, request);
  if (!rule) return {};
  ++injected_[rule->kind];
  return fault_of(*rule);
}

void FaultGate::after_request(const WireRequest& request) {
  if (request.fault != FaultKind::drop_before_send && request.fault != FaultKind::drop_reply) return;
  std::lock_guard lock(mutex_);
  if (const int w = worker_of(request.client); w >= 0) workers_[static_cast<std::size_t>(w)].dropped = request;
}

void FaultGate::set_up(int w, bool on) {
  std::lock_guard lock(mutex_);
  workers_[static_cast<std::size_t>(w)].setting_up = on;
}

void FaultGate::begin_iteration(int w, int repetition, long iteration) {
  std::lock_guard lock(mutex_);
  workers_[static_cast<std::size_t>(w)].repetition = repetition;
  workers_[static_cast<std::size_t>(w)].iteration = iteration;
  workers_[static_cast<std::size_t>(w)].rank = 0;
}

std::optional<WireRequest> FaultGate::take_dropped(int w) {
  std::lock_guard lock(mutex_);
  return std::exchange(workers_[static_cast<std::size_t>(w)].dropped, std::nullopt);
}

std::map<FaultKind, long> FaultGate::injected() const {
  std::lock_guard lock(mutex_);
  return injected_;
}

}  // namespace pgrace::detail
