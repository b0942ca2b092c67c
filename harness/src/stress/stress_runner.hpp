#pragma once
// Stress mode: N workers, one connection each, released together by a
// barrier, running the scenario's transaction() while a monitor checks the
// invariants; the main thread checks them again after each repetition.
// Workers never judge: they record, and the main thread reads what they
// recorded after joining them. Internal to pgrace; users call run_scenario().

#include "core/progress_reporter.hpp"
#include "pgrace/result.hpp"
#include "pgrace/scenario.hpp"
#include "pgrace/server.hpp"
#include "pgrace/settings.hpp"

namespace pgrace::detail {

// Runs `scenario` `settings.repeat` times in its own database on `server`
// (each repetition from a fresh state) and records what happened in
// `result` (made by new_result(), mode stress) for judge(): outcomes,
// violations (with the time to the first), throughput and latency, phase
// timings; with settings.keep, only up to the first violating repetition,
// whose database it keeps (result.kept). Sets result.error when a
// repetition lacks evidence (see ScenarioInfo::expects_no_commits),
// transaction() threw, or the run's
// timeout passed (then stops; see RunSettings::timeout_s). Throws
// ScenarioFailure when the scenario's code throws elsewhere, pgrace::Error
// (usage) when its seed or invariant SQL fails, and infrastructure as soon
// as a connection to the server is lost. Offers `progress` a report (in
// transactions) at the start of each repetition and about once a second.
void run_stress(const Server& server, const ScenarioInfo& info, Scenario& scenario, const RunSettings& settings,
                ProgressReporter& progress, ScenarioResult& result);

}  // namespace pgrace::detail
