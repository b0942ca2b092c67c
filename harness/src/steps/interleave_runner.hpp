#pragma once
// Interleave mode: sessions of named steps run one step at a time in a given
// order, with lock waits detected the way PostgreSQL's isolation tester does
// (a control connection asking pg_isolation_test_session_is_blocked).
// Internal to pgrace; users call run_scenario().

#include <vector>

#include "core/progress_reporter.hpp"
#include "pgrace/result.hpp"
#include "pgrace/scenario.hpp"
#include "pgrace/server.hpp"
#include "pgrace/settings.hpp"

namespace pgrace::detail {

// Runs the schedules of `sessions` that plan_schedules() plans, in its
// order (fewest context switches first), until done or out of
// `settings.budget_s`; checks the invariants after each; shrinks the first
// violating schedule into the reproducer (unless `settings.schedules` lists
// the schedules to replay or `settings.shrink` is off); and records what
// the schedules showed in `result` (made by new_result(), mode interleave)
// for judge(). Sets result.error when no schedule was
// feasible, no step succeeded (see ScenarioInfo::expects_no_commits) or the
// budget ran out before any violation was found. Throws ScenarioFailure
// when the scenario's code throws, a step ignores its cancellation, or the
// run's timeout passes (every session is idle or left behind by then);
// pgrace::Error as plan_schedules() does, and infrastructure if the server
// is lost. Offers `progress` a report (in schedules) before each schedule.
// With `make_more`, after the first few schedules it runs the next ones
// ahead of their turn on a few more instances of the scenario, each on a
// database of its own (util/ahead_pool.hpp); what it finds is the same.
void run_interleaved(const Server& server, const ScenarioInfo& info, Scenario& scenario,
                     const std::vector<Session>& sessions, const RunSettings& settings, ProgressReporter& progress,
                     ScenarioResult& result, const ScenarioMaker& make_more);

}  // namespace pgrace::detail
