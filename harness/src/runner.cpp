#include "pgrace/runner.hpp"

#include <pqxx/except>
#include <sstream>

#include "check_runner.hpp"
#include "connection_errors.hpp"
#include "interleave_runner.hpp"
#include "judge.hpp"
#include "pgrace/dsn.hpp"
#include "pgrace/error.hpp"
#include "progress_reporter.hpp"
#include "run_shared.hpp"
#include "statement_explorer.hpp"
#include "stress_runner.hpp"

namespace pgrace {
namespace {

std::string number_text(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

// Stands in for a scenario whose constructor threw (see make_scenario()).
class UnconstructedScenario final : public Scenario {
 public:
  explicit UnconstructedScenario(std::string error) : error_(std::move(error)) {}
  const std::string& error() const { return error_; }
  std::string schema() const override { return ""; }
  void seed(pqxx::work&) override {}
  // Shaped like an interleave scenario, so that the commands that run only
  // those (pgrace explore) take it too, and report its error.
  std::vector<Session> sessions() const override { return {Session{"unconstructed", "", {}}}; }
  std::vector<Invariant> invariants() const override { return {}; }

 private:
  std::string error_;
};

// Throws pgrace::Error (usage) when statement-level exploration cannot run
// the scenario: one in `mode` other than stress, or one using a connection
// pool (whose connections would bypass the wire proxy).
void check_statement_level(const ScenarioInfo& info, Mode mode, const Knobs& knobs) {
  if (mode != Mode::stress)
    throw usage_error(info.name + " is " + (mode == Mode::check ? "a check scenario" : "an interleave scenario") +
                      ": statement-level exploration (--workers) runs a stress scenario's transaction()");
  if (info.uses_shared_pool || knobs.pool.size > 0)
    throw usage_error(info.name + " uses a connection pool, whose connections pgrace does not control at "
                      "statement level");
}

// Faults go into the workers' own connections: a scenario with none (check,
// interleave) cannot take them (verdict error), and one whose work runs on
// pooled connections, which bypass the proxy, would test nothing (usage).
void check_faults(const ScenarioInfo& info, Mode mode, const Knobs& knobs, const RunSettings& settings) {
  if (knobs.faults.empty()) return;
  const std::string remedy = settings.faults ? "run it without --fault" : "pass --fault none, or drop Knobs::faults from its info()";
  if (mode != Mode::stress)
    throw detail::ScenarioFailure("faults (--fault, Knobs::faults) go into the connections of a stress scenario's "
                                  "workers, and this is " + std::string(mode == Mode::check ? "a check" : "an interleave") +
                                  " scenario: " + remedy);
  if (info.uses_shared_pool || knobs.pool.size > 0)
    throw usage_error(info.name + " uses a connection pool, whose connections do not go through pgrace's fault "
                      "injection: " + remedy);
}

}  // namespace

Knobs apply_overrides(const Knobs& defaults, const RunSettings& settings) {
  Knobs k = defaults;
  if (settings.threads) k.threads = *settings.threads;
  if (settings.iterations) k.iterations = *settings.iterations, k.duration_s.reset();
  if (settings.duration_s) k.duration_s = *settings.duration_s;
  if (settings.isolation) k.isolation = *settings.isolation;
  if (settings.sync) k.sync = *settings.sync;
  if (settings.retries) k.retry.max_retries = *settings.retries;
  if (settings.pool_size) k.pool.size = *settings.pool_size;
  if (settings.pool_timeout) k.pool.acquire_timeout = *settings.pool_timeout;
  if (settings.faults) k.faults = *settings.faults;
  for (const FaultRule& rule : k.faults) validate(rule);
  if (k.threads < 1 || k.threads > 256) throw usage_error("--threads must be between 1 and 256");
  if (k.iterations < 1 || k.iterations > 1'000'000'000)
    throw usage_error("--iterations must be between 1 and 1000000000");
  // Not `!(a && b)` spelt otherwise: NaN fails every comparison and must be rejected too.
  if (k.duration_s && !(*k.duration_s >= 0.01 && *k.duration_s <= 86400))
    throw usage_error("--duration " + number_text(*k.duration_s) + " is out of range: give seconds from 0.01 to 86400 (24 h)");
  if (k.retry.max_retries < 0) throw usage_error("--retries must be 0 or more");
  if (k.pool.size < 0 || k.pool.size > 256 || (settings.pool_size && k.pool.size < 1))
    throw usage_error("--pool-size must be between 1 and 256");
  if (k.pool.acquire_timeout.count() < 1 || k.pool.acquire_timeout.count() > 600'000)
    throw usage_error("--pool-timeout must be between 1 and 600000 milliseconds");
  if (settings.repeat < 1) throw usage_error("--repeat must be at least 1");
  if (settings.statement_workers && (*settings.statement_workers < 2 || *settings.statement_workers > 8))
    throw usage_error("--workers " + std::to_string(*settings.statement_workers) +
                      " is out of range: give 2 to 8 workers");
  if (settings.max_switches && *settings.max_switches < 0) throw usage_error("--max-switches must be 0 or more");
  if (settings.timeout_s && !(*settings.timeout_s >= 0.1 && *settings.timeout_s <= 2'592'000))
    throw usage_error("--timeout " + number_text(*settings.timeout_s) +
                      " is out of range: give seconds from 0.1 to 2592000 (30 days)");
  if (settings.timeout_s && k.duration_s && *settings.timeout_s <= *k.duration_s * settings.repeat)
    throw usage_error("--timeout " + number_text(*settings.timeout_s) + " is not longer than the planned run (--duration " +
                      number_text(*k.duration_s) + " x --repeat " + std::to_string(settings.repeat) +
                      "): give a longer --timeout");
  for (const FaultRule& rule : k.faults)
    if (settings.timeout_s && rule.kind == FaultKind::delay_reply &&
        !(std::chrono::duration<double>(rule.delay).count() < *settings.timeout_s))
      throw usage_error("--fault " + to_string(rule) + " holds a reply " + std::to_string(rule.delay.count()) +
                        " ms, not shorter than --timeout " + number_text(*settings.timeout_s) +
                        ": give a shorter delay or a longer --timeout");
  const double st = settings.statement_timeout_s;
  if (!(st == 0 || (st >= 0.001 && st <= 86400)))
    throw usage_error("--statement-timeout " + number_text(st) +
                      " is out of range: give 0 (none) or seconds from 0.001 to 86400");
  return k;
}

std::unique_ptr<Scenario> make_scenario(const ScenarioDefinition& definition, Options& options) {
  try {
    return definition.make(options);
  } catch (const Error&) {
    throw;
  } catch (...) {
    return std::make_unique<UnconstructedScenario>("the constructor threw: " +
                                                   pgrace::one_line(classify(std::current_exception()).message));
  }
}

ScenarioResult run_scenario(const Server& server, const ScenarioInfo& info, Scenario& scenario,
                            const RunSettings& settings, const ProgressCallback& progress) {
  ScenarioResult result = detail::new_result(info, settings);
  detail::ProgressReporter reporter(progress, info.name);
  try {
    if (const auto* unconstructed = dynamic_cast<const UnconstructedScenario*>(&scenario))
      throw detail::ScenarioFailure(unconstructed->error());
    const auto sessions =
        detail::call_scenario(info, "sessions()", server.dsn(), [&] { return scenario.sessions(); });
    result.mode = !sessions.empty() ? Mode::interleave : info.checks_only ? Mode::check : Mode::stress;
    check_faults(info, result.mode, result.knobs, settings);
    if (settings.statement_workers) {
      check_statement_level(info, result.mode, result.knobs);
      result.mode = Mode::interleave;
      detail::explore_statements(server, info, scenario, settings, reporter, result);
    } else if (result.mode == Mode::interleave)
      detail::run_interleaved(server, info, scenario, sessions, settings, reporter, result);
    else if (result.mode == Mode::check)
      detail::run_checks(server, info, scenario, settings, result);
    else
      detail::run_stress(server, info, scenario, settings, reporter, result);
  } catch (const detail::ScenarioFailure& e) {
    result.error = scrub_secrets(e.what(), server.dsn());
  } catch (const pqxx::broken_connection& e) {  // outside the workers: resetting, checking, ...
    throw detail::lost_connection_error("pgrace's main thread", info.name, e.what(), server.dsn());
  } catch (const pqxx::in_doubt_error& e) {
    throw detail::lost_connection_error("pgrace's main thread", info.name, e.what(), server.dsn());
  }
  detail::judge(result);
  return result;
}

}  // namespace pgrace
