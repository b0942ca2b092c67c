#pragma once
// Interleave mode: sessions of named steps run one step at a time in a given
// order, with lock waits detected the way PostgreSQL's isolation tester does
// (a control connection asking pg_isolation_test_session_is_blocked).
// Internal to pgrace; users call run_scenario().

#include <vector>

#include "pgrace/runner.hpp"
#include "progress_reporter.hpp"

namespace pgrace::detail {

// Runs every schedule of `sessions` (the scenario's listed ones, those of
// `settings.schedules`, or all interleavings, sampled down to
// `settings.max_schedules` with `settings.seed`), checks the invariants after
// each and judges, into `result` (made by new_result()). Sets result.error
// when no schedule was feasible or no step succeeded (see
// ScenarioInfo::expects_no_commits). Throws ScenarioFailure when the
// scenario's code throws, a step ignores its cancellation, or the run's
// timeout passes (every session is idle or left behind by then);
// pgrace::Error: usage for duplicate step names or a schedule naming an
// unknown step or running a session's steps out of their declared order
// (steps may be left out), infrastructure if the server is lost. Offers
// `progress` a report (in schedules) before each schedule.
void run_interleaved(const Server& server, const ScenarioInfo& info, Scenario& scenario,
                     const std::vector<Session>& sessions, const RunSettings& settings, ProgressReporter& progress,
                     ScenarioResult& result);

}  // namespace pgrace::detail
