#pragma once
// Statement-level exploration of a stress scenario (pgrace explore NAME
// --workers N): its unchanged transaction() on N workers, one transaction
// each, every request let through one at a time. The requests are not known
// in advance (the code branches on what it read), so this is stateless model
// checking: run a schedule prefix, see which workers have a request pending,
// choose, reset, replay; fewest context switches first. Internal to pgrace.

#include "core/progress_reporter.hpp"
#include "pgrace/result.hpp"
#include "pgrace/scenario.hpp"
#include "pgrace/server.hpp"
#include "pgrace/settings.hpp"
#include "statement/request_scheduler.hpp"

namespace pgrace::detail {

// Explores `scenario` with `settings.statement_workers` workers on its own
// database on `server` and records what it found in `result` (mode
// interleave; ScenarioResult::exploration, each schedule's steps being the
// workers' requests): executions in order of their context switches
// (preemptions), up to settings.max_switches, max_schedules and budget_s;
// or only settings.schedules, replayed; with settings.shard, only that
// shard's parts (statement/shard_parts.hpp). The reproducer is the
// violating execution with the fewest switches, the least draw, fault and
// prefix among those (whatever order they ran in, so that the shard
// holding one run's reproducer names the same). An exploration stopped early
// (max_schedules, budget_s) without a violation ends in verdict error.
// Throws what run_stress() throws, and pgrace::Error (usage) for a schedule
// that names no worker (see choices_of()) or a request its worker never sent.
// With `make_more`, it runs executions ahead of their turn on a few more
// instances of the scenario, each on a database of its own
// (statement/execution_pool.hpp); what it finds is the same.
void explore_statements(const Server& server, const ScenarioInfo& info, Scenario& scenario, const RunSettings& settings,
                        ProgressReporter& progress, ScenarioResult& result, const ScenarioMaker& make_more);

// The context switches of `schedule`, an execution recorded at statement
// level: switches away from a worker that had its next request ready (a
// worker is ready again unless its request waited, or it sent its last
// one); requests let through without a choice ("w1.begin", "w1.prepare")
// are no switch.
int preemptions_of(const ScheduleResult& schedule);

// The choices a schedule of step names ("w1.1 w2.1 w1.2", BEGINs as
// "w1.begin" skipped) stands for: worker indexes from 0. Throws
// pgrace::Error (usage) for a name that is not "w<1..workers>.<n>" (with
// an optional fault suffix, see planned_fault_of()), and for one out of
// its worker's order (each worker's w<k>.1, w<k>.2, ... in turn, once each).
std::vector<int> choices_of(const std::vector<std::string>& schedule, int workers);

// The fault a schedule of step names injects: its step with "!drop_reply"
// or "!drop_before_send" ("w1.3!drop_reply"), if any. Throws pgrace::Error
// (usage) for a bad step name or two faults.
std::optional<PlannedFault> planned_fault_of(const std::vector<std::string>& schedule, int workers);

}  // namespace pgrace::detail
