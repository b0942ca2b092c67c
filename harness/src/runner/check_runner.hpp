#pragma once
// Check mode: a scenario of invariants only (ScenarioInfo::checks_only), run
// with no workers: its invariants are checked on the seeded database.
// Internal to pgrace; users call run_scenario().

#include "pgrace/runner.hpp"

namespace pgrace::detail {

// Runs `scenario` `settings.repeat` times in its own database on `server`:
// per repetition reset (TRUNCATE + seed) and check, and records the
// violations in `result` (made by new_result(), mode check) for judge();
// with settings.keep, only up to the first violating repetition, whose
// database it keeps (result.kept).
// Sets result.error when the scenario has no invariant (a run that checks
// nothing proves nothing). Throws what run_stress() throws for the
// scenario's code, its SQL and lost connections.
void run_checks(const Server& server, const ScenarioInfo& info, Scenario& scenario, const RunSettings& settings,
                ScenarioResult& result);

}  // namespace pgrace::detail
