// pgrace explore: run an interleave scenario's schedules one step at a time
// and show the violating ones, the minimal reproducer first.

#include <iostream>
#include <sstream>

#include "commands.hpp"
#include "pgrace/dsn.hpp"
#include "pgrace/error.hpp"
#include "run_common.hpp"
#include "selection.hpp"

namespace pgrace::cli {
namespace {

struct ExploreOptions {
  std::vector<std::string> patterns;
  std::optional<std::string> dsn;
  std::optional<std::string> isolation;
  std::optional<std::uint64_t> seed;
  std::size_t max_schedules = 1000;
  std::vector<std::string> schedules;
  long step_timeout_ms = 5000;
  std::optional<double> timeout;
  double statement_timeout = 30;
  std::vector<std::string> options;
  std::string report;
  std::string junit;
  bool quiet = false;
};

std::vector<std::string> words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

void print_exploration(const ScenarioResult& r) {
  std::cout << (r.matched ? "ok   " : "FAIL ") << r.info.name << " (" << to_sql(r.knobs.isolation) << "): "
            << r.repetitions << " schedule(s) explored of " << r.schedules_total << ", " << r.violating_runs
            << " violated";
  if (r.schedules_infeasible) std::cout << ", " << r.schedules_infeasible << " infeasible";
  std::cout << "\n";
  if (!r.error.empty()) std::cout << "  error: " << r.error << "\n";
  for (const auto& inv : r.invariants)
    std::cout << "  \"" << inv.name << "\": " << (inv.held ? "held in every schedule" : "violated in " + std::to_string(inv.violated_runs) + " schedule(s)") << "\n";
  if (r.violating_schedules.empty()) return;
  const ScheduleResult& minimal = r.violating_schedules.front();
  std::cout << "minimal reproducer (violates";
  for (const auto& name : minimal.violated) std::cout << " \"" << name << "\"";
  std::cout << "); replay it in psql, one terminal per session, at isolation level " << to_sql(r.knobs.isolation)
            << ":\n"
            << schedule_text(minimal);
  for (std::size_t i = 1; i < r.violating_schedules.size() && i < 6; ++i) {
    std::cout << "also violating:";
    for (const auto& step : r.violating_schedules[i].schedule) std::cout << " " << step;
    std::cout << "\n";
  }
}

int explore(const ExploreOptions& o) {
  const auto started = std::chrono::steady_clock::now();
  const auto selected = select_scenarios(o.patterns, false);
  RunSettings settings;
  if (o.isolation) settings.isolation = parse_isolation(*o.isolation);
  settings.seed = o.seed ? *o.seed : random_seed();
  if (o.max_schedules < 1) throw usage_error("--max-schedules must be at least 1");
  settings.max_schedules = o.max_schedules;
  if (o.step_timeout_ms < 1) throw usage_error("--step-timeout must be at least 1 (milliseconds)");
  settings.step_timeout = std::chrono::milliseconds(o.step_timeout_ms);
  settings.timeout_s = o.timeout;
  settings.statement_timeout_s = o.statement_timeout;
  for (const auto& s : o.schedules) settings.schedules.push_back(words(s));
  auto scenarios = make_scenarios(selected, o.options, settings);
  for (std::size_t i = 0; i < scenarios.size(); ++i)
    if (scenarios[i]->sessions().empty())
      throw usage_error(selected[i]->info.name + " is a stress scenario, not made of steps: use pgrace run");
  if (!o.report.empty()) check_writable(o.report);
  if (!o.junit.empty()) check_writable(o.junit);

  auto server = Server::open(resolve_dsn(o.dsn));
  RunReport report = new_report(*server, settings);
  for (std::size_t i = 0; i < selected.size(); ++i) {
    report.scenarios.push_back(run_scenario(*server, selected[i]->info, *scenarios[i], settings));
    if (!o.quiet) print_exploration(report.scenarios.back());
  }
  finish_report(report, started, o.report, o.junit);
  return report.exit_code;
}

}  // namespace

void add_explore_command(CLI::App& app, const Selected& selected) {
  auto o = std::make_shared<ExploreOptions>();
  auto* command = app.add_subcommand(
      "explore", "Run an interleave scenario's schedules step by step; print the violating ones, minimal first");
  command->add_option("scenarios", o->patterns, "Interleave scenario names or globs")->required();
  add_dsn_option(*command, o->dsn);
  command->add_option("--isolation", o->isolation, "read_committed, repeatable_read or serializable (default: the scenario's)");
  command->add_option("--max-schedules", o->max_schedules, "Sample this many schedules when there are more (default 1000)");
  command->add_option("--seed", o->seed, "Seed for sampling schedules (default: random)");
  command->add_option("--schedule", o->schedules, "Run this schedule (step names, space-separated); repeatable");
  command->add_option("--step-timeout", o->step_timeout_ms, "Cancel a step that neither completes nor waits on a lock within this many ms (default 5000)");
  command->add_option("--timeout", o->timeout, "End a scenario still running after this many seconds (default: max(10 x planned time, 60))");
  command->add_option("--statement-timeout", o->statement_timeout, "statement_timeout of pgrace's sessions, seconds (0: none; default 30)");
  command->add_option("-o,--option", o->options, "Scenario option key=value (repeatable)");
  command->add_option("--report", o->report, "Write the JSON report here");
  command->add_option("--junit", o->junit, "Write JUnit XML here");
  command->add_flag("-q,--quiet", o->quiet, "Print nothing; use the exit code and reports");
  command->callback([selected, o] { *selected = [o] { return explore(*o); }; });
}

}  // namespace pgrace::cli
