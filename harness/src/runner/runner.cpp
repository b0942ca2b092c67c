#include "pgrace/runner.hpp"

#include <optional>
#include <pqxx/except>

#include "core/judge.hpp"
#include "core/progress_reporter.hpp"
#include "core/run_shared.hpp"
#include "files/process_run.hpp"
#include "pgrace/dsn.hpp"
#include "pgrace/error.hpp"
#include "runner/check_runner.hpp"
#include "server/connection_errors.hpp"
#include "statement/explorer.hpp"
#include "steps/interleave_runner.hpp"
#include "stress/stress_runner.hpp"
#include "util/file_window.hpp"

namespace pgrace {
namespace {

// How many of the server's log lines of a scenario's run its result keeps (the last ones).
constexpr std::size_t kServerLogLines = 200;

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
    throw SettingError(
        "statement_workers",
        "runs a stress scenario's transaction() statement by statement, and " + info.name + " is " + mode_text(mode) +
            (mode == Mode::check ? ", with no work to explore: run it" : ": explore it step by step, without it"));
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
      mode != Mode::stress ? "it is " + std::string(mode_text(mode)) +
                                 ", and faults go into the connections of a stress scenario's workers"
                           : "it uses a connection pool, whose connections do not go through pgrace's fault injection";
  if (settings.faults) throw SettingError("faults", "cannot reach " + info.name + ": " + why);
  throw SettingError("faults",
                     "its info() sets Knobs::faults, which cannot reach it: " + why + "; drop them from its info()",
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

void check_runnable(const ScenarioInfo& info, const Scenario& scenario, const RunSettings& settings) {
  if (dynamic_cast<const UnconstructedScenario*>(&scenario)) return;
  const auto mode = mode_of(info, scenario);
  if (!mode) return;
  const Knobs knobs = apply_overrides(info.defaults, settings, info.name);
  check_faults(info, *mode, knobs, settings);
  if (dynamic_cast<const files::FileScenario*>(&scenario)) files::check_processes_runnable(info, knobs, settings);
  if (settings.statement_workers) check_statement_level(info, *mode, knobs);
  if ((settings.draws || settings.draw) && !settings.statement_workers)
    throw SettingError(settings.draws ? "draws" : "draw",
                       "varies a stress scenario's inputs at statement level: explore it with statement_workers");
  if (settings.shard && *mode != Mode::interleave && !settings.statement_workers)
    throw SettingError(
        "shard",
        "splits an exploration, and " + info.name + " is " + (*mode == Mode::check ? "a check" : "a stress") +
            " scenario, whose run is not an exploration: explore its statements (statement_workers) or drop the shard");
  check_schedules(scenario.sessions(), settings);
}

std::vector<std::string> settings_without_effect(const ScenarioInfo& info, const Scenario& scenario,
                                                 const RunSettings& settings) {
  const auto mode = mode_of(info, scenario);
  if (!mode || *mode == Mode::stress || dynamic_cast<const UnconstructedScenario*>(&scenario)) return {};
  std::vector<std::string> names;
  const std::pair<const char*, bool> given[] = {
      {"threads", settings.threads.has_value()},          {"iterations", settings.iterations.has_value()},
      {"duration_s", settings.duration_s.has_value()},    {"sync", settings.sync.has_value()},
      {"retries", settings.retries.has_value()},          {"pool_size", settings.pool_size.has_value()},
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
                            const RunSettings& settings, const ProgressCallback& progress,
                            const ScenarioMaker& make_more) {
  ScenarioResult result = detail::new_result(info, settings);
  detail::ProgressReporter reporter(progress, info.name);
  const std::uintmax_t log_start = detail::file_end(server.log_file());
  try {
    if (const auto* unconstructed = dynamic_cast<const UnconstructedScenario*>(&scenario))
      throw detail::ScenarioFailure(unconstructed->error());
    const auto sessions = detail::call_scenario(info, "sessions()", server.dsn(), [&] { return scenario.sessions(); });
    result.mode = !sessions.empty() ? Mode::interleave : info.checks_only ? Mode::check : Mode::stress;
    check_runnable(info, scenario, settings);
    if (settings.statement_workers) {
      result.mode = Mode::interleave;
      detail::explore_statements(server, info, scenario, settings, reporter, result, make_more);
    } else if (result.mode == Mode::interleave)
      detail::run_interleaved(server, info, scenario, sessions, settings, reporter, result, make_more);
    else if (result.mode == Mode::check)
      detail::run_checks(server, info, scenario, settings, result);
    else if (auto* file = dynamic_cast<files::FileScenario*>(&scenario))
      files::run_processes(server, info, *file, settings, reporter, result);
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
  if (result.verdict != Verdict::held)
    result.server_log = detail::lines_since(server.log_file(), log_start, kServerLogLines);
  return result;
}

}  // namespace pgrace
