#pragma once
// Interleave mode: sessions of named steps run one step at a time in a given
// order, with lock waits detected the way PostgreSQL's isolation tester does
// (a control connection asking pg_isolation_test_session_is_blocked).
// Internal to pgrace; users call run_scenario().

#include <vector>

#include "pgrace/runner.hpp"

namespace pgrace::detail {

// Runs every schedule of `sessions` (the scenario's listed ones, those of
// `settings.schedules`, or all interleavings, sampled down to
// `settings.max_schedules` with `settings.seed`), checks the invariants after
// each and judges. Throws pgrace::Error: usage for duplicate step names or a
// schedule naming an unknown step or running a session's steps out of their
// declared order (steps may be left out), infrastructure if the server is lost.
// A result for `info` run with `settings`: knobs applied, one held entry per
// invariant. Shared by both modes (defined in runner.cpp).
ScenarioResult new_result(const ScenarioInfo& info, const RunSettings& settings,
                          const std::vector<Invariant>& invariants);

ScenarioResult run_interleaved(const Server& server, const ScenarioInfo& info, Scenario& scenario,
                               const std::vector<Session>& sessions, const RunSettings& settings);

}  // namespace pgrace::detail
