#pragma once
// Running a scenario in stress mode: N workers, one connection each, released
// together by a barrier, then the invariants are checked. Workers never judge:
// they record outcomes, and the calling thread judges after joining them.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pgrace/knobs.hpp"
#include "pgrace/outcome.hpp"
#include "pgrace/scenario.hpp"
#include "pgrace/server.hpp"

namespace pgrace {

// Command-line overrides of a scenario's default knobs, and run-wide settings.
struct RunSettings {
  std::optional<int> threads;
  std::optional<long> iterations;
  std::optional<double> duration_s;
  std::optional<Isolation> isolation;
  std::optional<Sync> sync;
  std::optional<int> retries;
  std::uint64_t seed = 0;
  int repeat = 1;                  // fresh state (TRUNCATE + seed) before each repetition
  std::size_t max_witnesses = 10;  // per invariant
};

// `defaults` with the overrides of `settings` applied. Throws pgrace::Error
// (usage) for out-of-range values (threads 1..256, iterations >= 1, ...).
Knobs apply_overrides(const Knobs& defaults, const RunSettings& settings);

struct InvariantResult {
  std::string name;
  std::string kind;
  bool held = true;
  int violated_runs = 0;                    // repetitions in which it was violated
  std::vector<std::string> witnesses;       // from the first violating repetition, bounded
  std::optional<double> first_violation_ms; // since release, first violating repetition
};

struct LatencySummary {
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0;
};

struct PhaseTimings {
  double setup_ms = 0;     // database clone and connections
  double reset_ms = 0;     // TRUNCATE + seed, all repetitions
  double run_ms = 0;       // workers, all repetitions
  double check_ms = 0;     // final invariant checks
  double teardown_ms = 0;  // connections closed, database dropped
};

struct ScenarioResult {
  ScenarioInfo info;
  Knobs knobs;                // as run
  std::uint64_t seed = 0;
  std::string verdict;        // "held", "violated" or "error"
  bool matched = false;       // verdict and violated set match the expectation in every repetition
  std::string error;          // for verdict "error"
  int repetitions = 0;
  int violating_runs = 0;     // repetitions with at least one violated invariant
  std::vector<InvariantResult> invariants;
  std::map<OutcomeClass, long> outcomes;     // final outcome of every transaction
  std::map<std::string, long> sqlstates;     // every failed attempt, retried or not
  long attempts = 0;
  long retries = 0;
  double throughput_tps = 0;  // transactions ended (any outcome) per second of run time
  LatencySummary latency;     // per transaction, retries included
  std::vector<double> first_violation_ms;  // per violating repetition, since release
  PhaseTimings phases;
  std::string deadlock_timeout;  // in force for the workers' sessions
};

// Called about once a second during long runs: scenario name, repetition,
// transactions ended so far.
using ProgressCallback = std::function<void(const std::string&, int, long)>;

// Runs `scenario` (created from `info`'s definition) on `server` in its own
// database, `settings.repeat` times, and judges the result. Throws
// pgrace::Error (infrastructure) if the server is lost; a scenario's own C++
// exceptions become verdict "error".
ScenarioResult run_scenario(const Server& server, const ScenarioInfo& info, Scenario& scenario,
                            const RunSettings& settings, const ProgressCallback& progress = {});

}  // namespace pgrace
