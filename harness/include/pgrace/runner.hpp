#pragma once
// Running one scenario: checking that the settings can run it, making it,
// and running it in its mode (stress, interleave, statement level, check),
// judged against its expectation.

#include <memory>
#include <string>
#include <vector>

#include "pgrace/result.hpp"
#include "pgrace/scenario.hpp"
#include "pgrace/server.hpp"
#include "pgrace/settings.hpp"

namespace pgrace {

// Throws SettingError (usage) when `settings` cannot run `scenario` (made
// from `info`), before any server is needed: statement_workers for a
// scenario that is not a stress scenario or that uses a connection pool;
// faults (given, or in its info()) for a check or interleave scenario, or
// for one that uses a connection pool; schedules that do not fit it. A
// scenario whose constructor threw, or whose sessions() throws, passes
// (run_scenario() reports it). run_scenario() calls it too.
void check_runnable(const ScenarioInfo& info, const Scenario& scenario, const RunSettings& settings);

// The settings given in `settings` that would change nothing for `scenario`:
// for a check scenario (no concurrent work) threads, iterations, duration_s,
// sync, retries, pool_size, pool_timeout; for an interleave scenario the same
// (its sessions run once per schedule, on their own connections). Names as
// SettingError::setting(). A front end running one scenario refuses them.
std::vector<std::string> settings_without_effect(const ScenarioInfo& info, const Scenario& scenario,
                                                 const RunSettings& settings);

// A judged result of verdict "error" with `error`, for `info` that could
// not be run (e.g. its invariant's SQL failed), with `settings`' seed.
ScenarioResult error_result(const ScenarioInfo& info, const RunSettings& settings, const std::string& error);

// The scenario of `definition`, created with `options`. A pgrace::Error from
// its constructor propagates (a bad option: usage); any other exception does
// not: the scenario returned then stands for the failed one, and
// run_scenario() reports it as verdict "error" naming the constructor.
std::unique_ptr<Scenario> make_scenario(const ScenarioDefinition& definition, Options& options);

// Runs `scenario` (created from `info`'s definition) on `server` in its own
// database and judges the result: in stress mode `settings.repeat` times; in
// interleave mode (the scenario has sessions) once per schedule. A stress
// scenario matches when exactly the expected invariants are violated in
// every repetition; an interleave scenario when the invariants violated
// across all its schedules are exactly the expected ones (none for "hold").
// Verdict "error" (never matched), with a one-line reason in `error`: the
// scenario's own C++ exception (naming the phase), a run without evidence
// (see ScenarioInfo::expects_no_commits), or a run past its timeout. Throws
// pgrace::Error: usage (exit 2) when the scenario's seed or invariant SQL
// fails (naming the scenario, and the invariant), or as check_runnable()
// does; infrastructure (exit 3) as soon as a connection to the server is
// lost (a worker's, the invariant monitor's or pgrace's control connection).
// With settings.keep, a violating run keeps its database with the state
// the violation left (ScenarioResult::kept; see RunSettings::keep). On a
// violation or error on an ephemeral server, ScenarioResult::server_log
// holds the server's log lines written during the run.
// Leaves no other database behind and no thread, except one stuck in the
// scenario's C++ code past the timeout (see RunSettings::timeout_s).
//
// `make_more`, when given, makes another instance of the scenario as its
// definition does, with the same options: a statement-level exploration
// (settings.statement_workers) then runs some executions ahead of their turn
// on a few more instances, each with a database of its own, and finds
// faster what it finds without them. The instances are called on their own
// threads, as transaction() is by several workers at once.
ScenarioResult run_scenario(const Server& server, const ScenarioInfo& info, Scenario& scenario,
                            const RunSettings& settings, const ProgressCallback& progress = {},
                            const ScenarioMaker& make_more = {});

}  // namespace pgrace
