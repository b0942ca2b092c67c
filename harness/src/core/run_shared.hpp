#pragma once
// What both run modes (stress and interleave) share: calling the scenario's
// code so that its failures become verdicts or one-line errors, resetting
// the tables, checking invariants, the run's time bound. Internal to pgrace.

#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "pgrace/result.hpp"
#include "pgrace/scenario.hpp"
#include "pgrace/settings.hpp"

namespace pgrace::detail {

// The scenario's own code failed (or the run could not be judged): the run
// ends with verdict "error" and this one-line reason.
class ScenarioFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An invariant could not be checked: its SQL failed (usage). run_scenario()
// rethrows it as pgrace::Error (usage) naming the scenario.
class InvariantError : public Error {
 public:
  explicit InvariantError(const std::string& message) : Error(ExitCode::usage, message) {}
};

// Rethrows the exception being handled, thrown by the scenario's code in
// `phase` (e.g. "seed()"), as what it means: pgrace::Error as is; a lost
// connection as pgrace::Error (infrastructure); another SQL error as
// pgrace::Error (usage) naming the scenario, the phase and the fix; any
// other exception as ScenarioFailure "<phase> threw: <message>". Every
// message is one line, scrubbed of the password of `dsn`.
[[noreturn]] void rethrow_as_scenario_failure(const ScenarioInfo& info, const std::string& phase,
                                              const std::string& dsn);

// Calls `code` (the scenario's `phase`), translating what it throws as
// rethrow_as_scenario_failure does.
template <typename Code>
auto call_scenario(const ScenarioInfo& info, const std::string& phase, const std::string& dsn, Code&& code)
    -> decltype(code()) {
  try {
    return code();
  } catch (...) {
    rethrow_as_scenario_failure(info, phase, dsn);
  }
}

// Empties the tables and runs the scenario's seed() (see reset_tables),
// translating failures as call_scenario does with phase "seed()".
void reset_state(pqxx::connection& control, Scenario& scenario, const ScenarioInfo& info, const std::string& dsn);

// check_invariant(), with a C++ exception from a predicate turned into
// ScenarioFailure naming the invariant and `when` ("in the final check").
std::vector<std::string> check_or_fail(const Invariant& invariant, const CheckContext& context,
                                       std::size_t max_witnesses, const std::string& when);

// The time bound of a run whose planned time is `planned_s` seconds:
// settings.timeout_s, else max(10 x planned_s, 60 s).
std::chrono::duration<double> run_timeout(const RunSettings& settings, double planned_s);

// "2 s (--timeout)" or "60 s (the default, 10 x the planned time or 60 s)":
// how a timeout message names the bound.
std::string timeout_text(const RunSettings& settings, std::chrono::duration<double> timeout);

// The error of an exploration that stopped early (`stopped`: why, e.g.
// "the exploration stopped after 5 executions, at --max-schedules 5")
// without any of its `unit`s ("schedule", "execution") violating an
// invariant: a partial exploration is not a pass, whichever limit ended it.
std::string partial_exploration_error(const std::string& stopped, const std::string& unit);

// Throws unless the server of `dsn` has room for four times `connections`
// more: an extra runner (util/ahead_pool.hpp) must never take a connection
// the first runner needs (a worker reconnecting after a fault).
void require_connection_room(const std::string& dsn, int connections);

}  // namespace pgrace::detail
