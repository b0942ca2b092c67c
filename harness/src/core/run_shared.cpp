#include "core/run_shared.hpp"

#include <algorithm>
#include <iomanip>
#include <pqxx/nontransaction>
#include <sstream>

#include "pgrace/connection.hpp"
#include "pgrace/dsn.hpp"
#include "pgrace/error.hpp"
#include "server/database.hpp"

namespace pgrace::detail {

void rethrow_as_scenario_failure(const ScenarioInfo& info, const std::string& phase, const std::string& dsn) {
  try {
    throw;
  } catch (const Error&) {
    throw;
  } catch (const ScenarioFailure&) {
    throw;
  } catch (...) {
    const Outcome o = classify(std::current_exception());
    std::string message = scrub_secrets(pgrace::one_line(o.message, 300), dsn);
    if (message.rfind("ERROR:", 0) == 0) message.erase(0, message.find_first_not_of(' ', 6));
    if (o.kind == OutcomeClass::connection_lost)
      throw infrastructure_error("lost the connection to the server while running " + info.name + " (" + phase +
                                 "): " + message);
    if (o.kind == OutcomeClass::scenario_error) throw ScenarioFailure(phase + " threw: " + message);
    throw usage_error(info.name + ": " + phase + " failed: " + message + " (SQLSTATE " + o.sqlstate +
                      "; fix the scenario's " + phase + " or its options)");
  }
}

void reset_state(pqxx::connection& control, Scenario& scenario, const ScenarioInfo& info, const std::string& dsn) {
  call_scenario(info, "seed()", dsn, [&] { reset_tables(control, scenario); });
}

std::vector<std::string> check_or_fail(const Invariant& invariant, const CheckContext& context,
                                       std::size_t max_witnesses, const std::string& when) {
  try {
    return check_invariant(invariant, context, max_witnesses);
  } catch (const Error& e) {
    if (e.code() == ExitCode::usage) throw InvariantError(e.what());
    throw;
  } catch (...) {
    const Outcome o = classify(std::current_exception());
    if (o.kind != OutcomeClass::scenario_error) throw;  // a lost connection
    throw ScenarioFailure("invariant \"" + invariant.name + "\" threw " + when + ": " +
                          pgrace::one_line(o.message, 300));
  }
}

std::chrono::duration<double> run_timeout(const RunSettings& settings, double planned_s) {
  return std::chrono::duration<double>(settings.timeout_s ? *settings.timeout_s : std::max(10 * planned_s, 60.0));
}

std::string timeout_text(const RunSettings& settings, std::chrono::duration<double> timeout) {
  std::ostringstream out;
  out << std::setprecision(3) << timeout.count() << " s";
  return out.str() + (settings.timeout_s ? " (--timeout)" : " (the default timeout: raise it with --timeout)");
}

std::string partial_exploration_error(const std::string& stopped, const std::string& unit) {
  return stopped + " and no " + unit +
         " violated an invariant: a partial exploration is not a pass; raise "
         "--max-schedules or --budget, or bound the search with --max-switches";
}

void require_connection_room(const std::string& dsn, int connections) {
  auto connection = connect(dsn);
  pqxx::nontransaction tx(*connection);
  const int room = tx.exec(
                         "SELECT current_setting('max_connections')::int - "
                         "current_setting('superuser_reserved_connections')::int - count(*)::int "
                         "FROM pg_stat_activity")[0][0]
                       .as<int>();
  if (room < 4 * connections) throw std::runtime_error("no room for another runner's connections");
}

}  // namespace pgrace::detail
