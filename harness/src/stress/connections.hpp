#pragma once
// The connections of one stress run. Internal to pgrace.

#include <memory>
#include <string>
#include <vector>

#include <pqxx/connection>

#include "pgrace/scenario.hpp"
#include "pgrace/settings.hpp"
#include "stress/state.hpp"

namespace pgrace::detail::stress {

// The connections of one scenario run. Worker, pool and monitor connections
// are shared with the threads that use them, which may outlive the run.
struct Connections {
  Connections() = default;
  Connections(Connections&&) = default;
  // A worker thread left running keeps the proxy; it stops with the run all the same.
  ~Connections() {
    if (faults) faults->proxy.stop();
  }

  std::unique_ptr<pqxx::connection> control;  // the main thread's: reset, final check, pg_stat_activity
  std::shared_ptr<pqxx::connection> monitor;
  int monitor_pid = 0;
  std::shared_ptr<FaultInjection> faults;  // when Knobs::faults is not empty
  std::vector<std::shared_ptr<WorkerConnection>> workers;
  std::shared_ptr<RoundRobinPool> pool;
  std::shared_ptr<LeasePool> leases;  // Knobs::pool, when its size is not 0
};

// Opens the connections of a stress run on the scenario database `dsn`:
// control and monitor, one per worker (through a wire proxy when
// knobs.faults is not empty), the shared pool and the lease pool when the
// scenario uses them. Sets `deadlock_timeout` to the sessions' value.
Connections open_connections(const std::string& dsn, const ScenarioInfo& info, Scenario& scenario, const Knobs& knobs,
                             const RunSettings& settings, std::string& deadlock_timeout);
}  // namespace pgrace::detail::stress
