#include "runner/check_runner.hpp"

#include <chrono>
#include <pqxx/pqxx>

#include "core/judge.hpp"
#include "core/run_shared.hpp"
#include "core/session_setup.hpp"
#include "pgrace/connection.hpp"
#include "server/database.hpp"

namespace pgrace::detail {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point from) {
  return std::chrono::duration<double, std::milli>(Clock::now() - from).count();
}

// Checks every invariant after repetition `r` and records the violations;
// returns whether one was violated.
bool check_repetition(pqxx::connection& control, const std::vector<Invariant>& invariants, const RunSettings& settings,
                      ScenarioResult& result) {
  pqxx::work tx(control);
  const std::map<OutcomeClass, long> no_outcomes;
  CheckContext context{tx, no_outcomes, 0};
  bool violated = false;
  for (std::size_t i = 0; i < invariants.size(); ++i) {
    auto witnesses = check_or_fail(invariants[i], context, settings.max_witnesses, "in the check");
    if (witnesses.empty()) continue;
    record_violation(result.invariants[i], witnesses);
    violated = true;
  }
  if (violated) ++result.stress.violating_runs;
  return violated;
}

}  // namespace

void run_checks(const Server& server, const ScenarioInfo& info, Scenario& scenario, const RunSettings& settings,
                ScenarioResult& result) {
  const std::string dsn = server.dsn();
  const auto invariants = call_scenario(info, "invariants()", dsn, [&] { return scenario.invariants(); });
  result.invariants = invariant_entries(invariants);
  if (invariants.empty())
    throw ScenarioFailure(
        "the scenario has no transaction(), no sessions() and no invariants: it tests nothing "
        "(give it invariants, e.g. uses_index())");
  const std::string schema = call_scenario(info, "schema()", dsn, [&] { return scenario.schema(); });
  auto phase_start = Clock::now();
  ScenarioDatabase database(dsn, schema, info.name);
  int kept_repetition = 0;  // RunSettings::keep: the first violating repetition (from 1), whose state stays
  {
    auto control = connect(database.dsn());
    prepare_session(*control, Isolation::read_committed, "pgrace-control", settings.statement_timeout_s);
    result.phases.setup_ms = ms_since(phase_start);
    for (int r = 0; r < settings.repeat && !kept_repetition; ++r) {  // quick: no progress report
      phase_start = Clock::now();
      reset_state(*control, scenario, info, dsn);
      result.phases.reset_ms += ms_since(phase_start);
      phase_start = Clock::now();
      if (check_repetition(*control, invariants, settings, result) && settings.keep) kept_repetition = r + 1;
      result.phases.check_ms += ms_since(phase_start);
      ++result.stress.repetitions;
    }
    phase_start = Clock::now();
  }
  if (kept_repetition) {
    database.keep();
    result.kept = KeptDatabase{database.name(), "after repetition " + std::to_string(kept_repetition) +
                                                    ", the first violating one (the run stopped there)"};
  } else {
    database.drop();
  }
  result.phases.teardown_ms = ms_since(phase_start);
}

}  // namespace pgrace::detail
