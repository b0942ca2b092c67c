#include "pgrace/runner.hpp"

#include <pqxx/except>
#include <iomanip>
#include <optional>
#include <sstream>
#include <type_traits>

#include "runner/check_runner.hpp"
#include "server/connection_errors.hpp"
#include "steps/interleave_runner.hpp"
#include "core/judge.hpp"
#include "pgrace/dsn.hpp"
#include "pgrace/error.hpp"
#include "core/progress_reporter.hpp"
#include "core/run_shared.hpp"
#include "statement/explorer.hpp"
#include "stress/stress_runner.hpp"

namespace pgrace {
namespace {

std::string number_text(double value) {
  std::ostringstream out;
  out << std::setprecision(12) << value;
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

std::string range_text(WholeRange range) {
  return "from " + std::to_string(range.min) + " to " + std::to_string(range.max);
}

std::string range_text(SecondsRange range) {
  return (range.zero ? "0 or seconds from " : "seconds from ") + number_text(range.min) + " to " +
         number_text(range.max);
}

// Throws SettingError unless `value` lies in `range`: about the setting
// when `given`, else about the scenario's knob `knob` (Knobs::...).
template <class Value, class Range>
void check_range(const char* setting, Value value, Range range, bool given, const std::string& scenario = "",
                 const char* knob = "") {
  bool fits = false;
  if constexpr (std::is_floating_point_v<Value>)  // NaN fails every comparison and is refused too
    fits = (value >= range.min && value <= range.max) || (range.zero && value == 0);
  else
    fits = value >= 0 && static_cast<std::uint64_t>(value) >= range.min && static_cast<std::uint64_t>(value) <= range.max;
  if (fits) return;
  const std::string text = std::is_floating_point_v<Value> ? number_text(static_cast<double>(value)) : std::to_string(value);
  if (given) throw SettingError(setting, "must be " + range_text(range) + ", got " + text);
  throw SettingError(setting, "Knobs::" + std::string(knob) + " = " + text + " in its info() is out of range: give " +
                                  range_text(range),
                     scenario.empty() ? "the scenario" : scenario);
}

// The mode `scenario` runs in, or nullopt when its sessions() throws (run_scenario() reports that).
std::optional<Mode> mode_of(const ScenarioInfo& info, const Scenario& scenario) {
  try {
    if (!scenario.sessions().empty()) return Mode::interleave;
  } catch (...) {
    return std::nullopt;
  }
  return info.checks_only ? Mode::check : Mode::stress;
}

const char* mode_text(Mode mode) { return mode == Mode::check ? "a check scenario" : "an interleave scenario"; }

bool uses_pool(const ScenarioInfo& info, const Knobs& knobs) { return info.uses_shared_pool || knobs.pool.size > 0; }

// Statement-level exploration runs a stress scenario's transaction() on
// connections through the wire proxy, which pooled connections bypass.
void check_statement_level(const ScenarioInfo& info, Mode mode, const Knobs& knobs) {
  if (mode != Mode::stress)
    throw SettingError("statement_workers", "runs a stress scenario's transaction() statement by statement, and " +
                                                info.name + " is " + mode_text(mode) +
                                                (mode == Mode::check ? ", with no work to explore: run it"
                                                                     : ": explore it step by step, without it"));
  if (uses_pool(info, knobs))
    throw SettingError("statement_workers", "cannot explore " + info.name +
                                                ": it uses a connection pool, whose connections pgrace does not "
                                                "control at statement level; run it");
}

// Faults go into the workers' own connections: a scenario with none (check,
// interleave), or whose work runs on pooled connections (which bypass the
// proxy), cannot take them.
void check_faults(const ScenarioInfo& info, Mode mode, const Knobs& knobs, const RunSettings& settings) {
  if (knobs.faults.empty() || (mode == Mode::stress && !uses_pool(info, knobs))) return;
  const std::string why =
      mode != Mode::stress
          ? "it is " + std::string(mode_text(mode)) + ", and faults go into the connections of a stress scenario's workers"
          : "it uses a connection pool, whose connections do not go through pgrace's fault injection";
  if (settings.faults) throw SettingError("faults", "cannot reach " + info.name + ": " + why);
  throw SettingError("faults", "its info() sets Knobs::faults, which cannot reach it: " + why +
                                   "; drop them from its info()",
                     info.name);
}

void check_schedules(const std::vector<Session>& sessions, const RunSettings& settings) {
  for (const auto& schedule : settings.schedules) {
    if (settings.statement_workers) {
      detail::choices_of(schedule, *settings.statement_workers);
      detail::planned_fault_of(schedule, *settings.statement_workers);
    } else if (!sessions.empty()) {
      check_schedule(sessions, schedule);
    }
  }
}

}  // namespace

SettingError::SettingError(std::string setting, std::string problem, std::string knob_of_scenario)
    : Error(ExitCode::usage, knob_of_scenario.empty() ? setting + " " + problem : knob_of_scenario + ": " + problem),
      setting_(std::move(setting)),
      problem_(std::move(problem)),
      knob_(!knob_of_scenario.empty()) {}

Knobs apply_overrides(const Knobs& defaults, const RunSettings& settings, const std::string& scenario) {
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
  check_range("threads", k.threads, limits::threads, settings.threads.has_value(), scenario, "threads");
  check_range("iterations", k.iterations, limits::iterations, settings.iterations.has_value(), scenario, "iterations");
  if (k.duration_s)
    check_range("duration_s", *k.duration_s, limits::duration_s, settings.duration_s.has_value(), scenario,
                "duration_s");
  check_range("retries", k.retry.max_retries, limits::retries, settings.retries.has_value(), scenario,
              "retry.max_retries");
  if (settings.pool_size || k.pool.size != 0)
    check_range("pool_size", k.pool.size, limits::pool_size, settings.pool_size.has_value(), scenario, "pool.size");
  check_range("pool_timeout", k.pool.acquire_timeout.count(), limits::pool_timeout_ms,
              settings.pool_timeout.has_value(), scenario, "pool.acquire_timeout");
  check_range("repeat", settings.repeat, limits::repeat, true);
  if (settings.statement_workers)
    check_range("statement_workers", *settings.statement_workers, limits::statement_workers, true);
  if (settings.max_switches) check_range("max_switches", *settings.max_switches, limits::max_switches, true);
  check_range("max_schedules", settings.max_schedules, limits::max_schedules, true);
  if (settings.budget_s) check_range("budget_s", *settings.budget_s, limits::budget_s, true);
  check_range("step_timeout", settings.step_timeout.count(), limits::step_timeout_ms, true);
  if (settings.timeout_s) check_range("timeout_s", *settings.timeout_s, limits::timeout_s, true);
  if (settings.timeout_s && k.duration_s && *settings.timeout_s <= *k.duration_s * settings.repeat)
    throw SettingError("timeout_s", number_text(*settings.timeout_s) + " is not longer than the planned run (" +
                                        number_text(*k.duration_s) + " s x " + std::to_string(settings.repeat) +
                                        " repetitions): give a longer one");
  check_range("statement_timeout_s", settings.statement_timeout_s, limits::statement_timeout_s, true);
  return k;
}

void check_runnable(const ScenarioInfo& info, const Scenario& scenario, const RunSettings& settings) {
  if (dynamic_cast<const UnconstructedScenario*>(&scenario)) return;
  const auto mode = mode_of(info, scenario);
  if (!mode) return;
  const Knobs knobs = apply_overrides(info.defaults, settings, info.name);
  check_faults(info, *mode, knobs, settings);
  if (settings.statement_workers) check_statement_level(info, *mode, knobs);
  check_schedules(scenario.sessions(), settings);
}

std::vector<std::string> settings_without_effect(const ScenarioInfo& info, const Scenario& scenario,
                                                 const RunSettings& settings) {
  const auto mode = mode_of(info, scenario);
  if (!mode || *mode == Mode::stress || dynamic_cast<const UnconstructedScenario*>(&scenario)) return {};
  std::vector<std::string> names;
  const std::pair<const char*, bool> given[] = {
      {"threads", settings.threads.has_value()},         {"iterations", settings.iterations.has_value()},
      {"duration_s", settings.duration_s.has_value()},   {"sync", settings.sync.has_value()},
      {"retries", settings.retries.has_value()},         {"pool_size", settings.pool_size.has_value()},
      {"pool_timeout", settings.pool_timeout.has_value()}};
  for (const auto& [name, is_given] : given)
    if (is_given) names.push_back(name);
  return names;
}

ScenarioResult error_result(const ScenarioInfo& info, const RunSettings& settings, const std::string& error) {
  ScenarioResult result = detail::new_result(info, settings);
  result.error = error;
  detail::judge(result);
  return result;
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
    check_runnable(info, scenario, settings);
    if (settings.statement_workers) {
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
  } catch (const detail::InvariantError& e) {
    throw usage_error(info.name + ": " + e.what());
  } catch (const pqxx::broken_connection& e) {  // outside the workers: resetting, checking, ...
    throw detail::lost_connection_error("pgrace's main thread", info.name, e.what(), server.dsn());
  } catch (const pqxx::in_doubt_error& e) {
    throw detail::lost_connection_error("pgrace's main thread", info.name, e.what(), server.dsn());
  }
  detail::judge(result);
  return result;
}

}  // namespace pgrace
