#pragma once
// Stress mode's check of a repetition, on the main thread after the workers
// ended: what they recorded, every invariant, and the evidence rule.
// Internal to pgrace.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <pqxx/connection>

#include "pgrace/result.hpp"
#include "stress/repetition.hpp"
#include "stress/state.hpp"

namespace pgrace::detail::stress {

// The throughput floor (ScenarioInfo::expects_no_commits,
// min_committed_share): why repetition `r` proves nothing, or "". One that
// `violated` an invariant while some transaction committed or may have
// (indeterminate: its COMMIT reply was lost) proved something.
std::string lack_of_evidence(const ScenarioInfo& info, const std::map<OutcomeClass, long>& counts,
                             const std::optional<Outcome>& first_failure, int r, int repeat, bool violated);

// Checks every invariant after repetition `rep` ran for `run_ms` and
// records the violations in `result`.
void final_check(Repetition& rep, pqxx::connection& control, double run_ms, ScenarioResult& result);

// The first failures the workers of a repetition recorded.
struct Failures {
  std::optional<Outcome> first;  // the first failed attempt
  std::string first_code_error;  // the first that concurrency never causes: "worker 1, iteration 3: 42P01 ..."
  long forgotten_commits = 0;           // attempts that said committed and rolled back (WorkerState)
  std::string first_forgotten_commit;  // "worker 1, iteration 3, attempt 0"
};

// Adds what the workers that ended recorded to `result` and `latencies`;
// throws pgrace::Error (infrastructure) if one lost its connection, its own
// or a pooled one (unless pgrace ended it, past the timeout). Returns their
// first failures.
Failures collect_workers(const Repetition& rep, const RepetitionRun& run, const ScenarioInfo& info,
                         const std::string& dsn, const LeasePool* leases, ScenarioResult& result,
                         std::vector<double>& latencies);

}  // namespace pgrace::detail::stress
