#pragma once
// Stress mode's fault injection: the wire proxy's gate for the workers'
// connections when the run's knobs ask for faults. It places each request
// a rule targets (worker, iteration, its rank among the worker's targeted
// requests), draws the faults of the rules for it from the seed, and remembers the connections it dropped, so that the
// worker's outcome and its next connection follow. Thread-safe: the proxy calls it on its connection threads, the
// workers and the main thread the rest. Internal to pgrace.

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "faults/rules.hpp"
#include "faults/worker_connection.hpp"
#include "wire/request.hpp"

namespace pgrace::detail {

class FaultGate final : public RequestGate, public FaultedConnections {
 public:
  // Worker i is the connection whose application_name is worker_session_name(i);
  // other connections are never faulted.
  FaultGate(std::vector<FaultRule> rules, std::uint64_t seed, int workers);

  Fault before_request(const WireRequest& request) override;
  void after_request(const WireRequest& request) override;

  // Worker `w` starts iteration `iteration` of repetition `repetition`: its
  // requests are ranked from 0 again.
  void begin_iteration(int w, int repetition, long iteration);
  std::optional<WireRequest> take_dropped(int w) override;
  // While worker `w`'s connection is set up (session settings, the
  // scenario's prepare()), its requests are not faulted.
  void set_up(int w, bool on) override;
  // Faults injected so far, by kind.
  std::map<FaultKind, long> injected() const;

 private:
  struct WorkerFaults {
    int repetition = 0;
    long iteration = 0;
    int rank = 0;
    bool setting_up = false;
    std::optional<WireRequest> dropped;
  };
  int worker_of(const std::string& client) const;

  const std::vector<FaultRule> rules_;
  const std::uint64_t seed_;
  mutable std::mutex mutex_;
  std::vector<WorkerFaults> workers_;
  std::map<FaultKind, long> injected_;
};

}  // namespace pgrace::detail
