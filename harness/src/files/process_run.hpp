#pragma once
// Stress mode for a scenario file: per repetition, reset (TRUNCATE + seed),
// run (the worker processes, their connections through a wire proxy whose
// gate releases their transactions together and classifies their
// outcomes), check (every invariant). Internal to pgrace.

#include "core/progress_reporter.hpp"
#include "files/file_scenario.hpp"
#include "pgrace/result.hpp"
#include "pgrace/server.hpp"
#include "pgrace/settings.hpp"

namespace pgrace::files {

// Throws SettingError (usage) for settings that do not reach worker
// processes yet: a pool, duration_s, faults in a statement-level
// exploration (settings.statement_workers).
void check_processes_runnable(const ScenarioInfo& info, const Knobs& knobs, const RunSettings& settings);

// Runs `scenario` as run_scenario() says for stress mode, recording what it
// saw in `result` (judge() gives the verdict): a worker that exits non-zero
// or is killed makes verdict "error" naming it and the tail of its output.
// Throws as check_processes_runnable() does. No worker process outlives it.
void run_processes(const Server& server, const ScenarioInfo& info, FileScenario& scenario, const RunSettings& settings,
                   detail::ProgressReporter& progress, ScenarioResult& result);

}  // namespace pgrace::files
