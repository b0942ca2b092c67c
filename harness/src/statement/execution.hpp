#pragma once
// One execution of a stress scenario at statement level: each worker runs
// the scenario's unchanged transaction() once, on a connection through the
// wire proxy, and exactly one worker's next request goes through at a time,
// chosen by a schedule prefix and then by a default that switches workers
// only when it must. Internal to pgrace.

#include <memory>
#include <string>
#include <vector>

#include "pgrace/result.hpp"
#include "pgrace/scenario.hpp"
#include "pgrace/settings.hpp"
#include "statement/request_scheduler.hpp"

namespace pgrace::detail {

// A point of an execution where a request was chosen: the workers whose
// next request was held at the gate, and the one let through.
struct ChoicePoint {
  std::vector<int> enabled;
  int chosen = 0;
};

// What decides an execution: its choices, the fault it injects, its input
// draw. The same key gives the same execution on any StatementRunner.
struct ExecutionKey {
  std::vector<int> prefix;
  std::optional<PlannedFault> fault;
  int draw = 0;
  bool operator<(const ExecutionKey& o) const { return std::tie(prefix, fault, draw) < std::tie(o.prefix, o.fault, o.draw); }
};

// What one execution did and showed.
struct StatementExecution {
  std::vector<ChoicePoint> points;
  std::vector<ScheduledRequest> requests;           // in the order they were let through
  std::vector<Outcome> outcomes;                    // per worker: how its transaction ended (after retries)
  std::vector<std::vector<std::string>> witnesses;  // per invariant; empty: it held
  bool diverged = false;              // a choice of the prefix was not possible: the execution was abandoned
  bool chose_finished = false;        // diverged at a choice of a worker that had sent all its requests
  std::optional<PlannedFault> fault;  // the fault it was to inject
  bool fault_injected = false;        // and did
  std::string note;                   // why it diverged, or what was cancelled
  int draw = 0;                       // its input draw (statement/input_draw.hpp)
  bool drew_inputs = false;           // some worker called w.rng()
  // Context switches among the first `choices` choices (all by default):
  // choices of another worker while the last one chosen could have gone on
  // (preemptions, as CHESS counts them; a switch forced by a worker that
  // waits or has finished is free).
  int switches(std::size_t choices = static_cast<std::size_t>(-1)) const;
  bool violated() const;
};

// The fixed parts of a statement-level exploration: the scenario, its
// database, the proxy and the workers' connections through it.
class StatementRunner {
 public:
  // Opens `workers` connections to `database_dsn` through a wire proxy (each
  // prepared at `knobs.isolation`, scenario.prepare() called on each) and a
  // control connection. Throws what connecting and prepare() throw.
  StatementRunner(const ScenarioInfo& info, Scenario& scenario, const std::vector<Invariant>& invariants,
                  const Knobs& knobs, const RunSettings& settings, const std::string& database_dsn, int workers);
  ~StatementRunner();

  // Resets the tables (seed()), runs one transaction per worker, on the
  // inputs of draw `draw` (statement/input_draw.hpp), following `prefix`
  // (worker indexes, one per choice point) and then the default (the last
  // worker while it can go on, else the lowest index), injecting `fault` if
  // given, and checks every invariant. A worker whose connection
  // the fault dropped gets a new one when its code asks for it again. Throws ScenarioFailure when a worker's C++ code
  // throws or the run's `deadline` passes; pgrace::Error (infrastructure) when a connection is lost.
  StatementExecution run(const std::vector<int>& prefix, const std::optional<PlannedFault>& fault, int draw,
                         Clock::time_point deadline);

  int workers() const;
  const std::string& deadlock_timeout() const;

  struct Impl;  // (public only for the execution's control loop in the .cpp)

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace pgrace::detail
