// pgrace explore: run an interleave scenario's schedules one step at a time
// and show the violating ones, the minimal reproducer first.

#include <iostream>
#include <sstream>

#include "commands.hpp"
#include "pgrace/dsn.hpp"
#include "pgrace/error.hpp"
#include "pgrace/steps.hpp"
#include "progress_printer.hpp"
#include "run_common.hpp"
#include "selection.hpp"

namespace pgrace::cli {
namespace {

struct ExploreOptions {
  std::vector<std::string> patterns;
  std::optional<std::string> dsn;
  std::optional<std::string> isolation;
  std::optional<std::string> seed;
  ExplorationOptions exploration;
  std::vector<std::string> schedules;
  std::optional<double> timeout;
  double statement_timeout = 30;
  std::vector<std::string> options;
  ReportOptions reports;
  bool quiet = false;
};

std::vector<std::string> words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::string join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

int context_switches_of(const ScheduleResult& schedule) {
  int switches = 0;
  for (std::size_t i = 1; i < schedule.steps.size(); ++i)
    switches += schedule.steps[i].session != schedule.steps[i - 1].session;
  return switches;
}

void print_reproducer(std::ostream& out, const ScenarioResult& r) {
  const Exploration& e = r.exploration;
  out << "minimal reproducer (violates";
  for (const auto& name : e.reproducer->violated) out << " \"" << name << "\"";
  out << "; " << context_switches_of(*e.reproducer) << " context switch(es))";
  if (e.shrinking && !e.shrinking->changes.empty()) {
    out << ", shrunk from the first violating schedule found (" << join(e.shrinking->original.schedule) << "):\n";
    for (const auto& change : e.shrinking->changes) out << "  - " << change << "\n";
  } else {
    out << ":\n";
  }
  out << "replay it in psql, one terminal per session, at isolation level " << to_sql(r.knobs.isolation) << ":\n"
      << schedule_text(*e.reproducer);
}

void print_exploration(std::ostream& out, const ScenarioResult& r) {
  const Exploration& e = r.exploration;
  out << (r.matched ? "ok   " : "FAIL ") << r.info.name << " (" << to_sql(r.knobs.isolation) << "): "
      << e.explored << " schedule(s) explored of " << e.total << ", " << e.violating << " violated";
  if (e.infeasible) out << ", " << e.infeasible << " infeasible";
  out << "\n  " << bounds_text(e) << "\n";
  if (!r.error.empty()) out << "  error: " << r.error << "\n";
  for (const auto& inv : r.invariants)
    out << "  \"" << inv.name << "\": " << (inv.held ? "held in every schedule" : "violated in " + std::to_string(inv.violated_runs) + " schedule(s)") << "\n";
  if (!e.reproducer) return;
  print_reproducer(out, r);
  for (std::size_t i = 1; i < e.violating_schedules.size() && i < 6; ++i) out << "also violating: " << join(e.violating_schedules[i].schedule) << "\n";
}

int explore(const ExploreOptions& o, const std::string& program) {
  const auto started = std::chrono::steady_clock::now();
  const auto selected = select_scenarios(o.patterns, false);
  RunSettings settings;
  if (o.isolation) settings.isolation = parse_isolation(*o.isolation);
  settings.seed = o.seed ? parse_seed(*o.seed, "--seed") : random_seed();
  apply_exploration_options(o.exploration, settings);
  settings.timeout_s = o.timeout;
  settings.statement_timeout_s = o.statement_timeout;
  for (const auto& s : o.schedules) {
    settings.schedules.push_back(words(s));
    if (settings.schedules.back().empty())
      throw usage_error("--schedule needs at least one step name, got '" + s + "'");
  }
  auto prepared = make_scenarios(selected, o.options, settings);
  for (std::size_t i = 0; i < selected.size(); ++i) {
    const auto sessions = prepared.scenarios[i]->sessions();
    if (sessions.empty())
      throw usage_error(selected[i]->info.name + " is a stress scenario, not made of steps: use pgrace run");
    for (const auto& schedule : settings.schedules) check_schedule(sessions, schedule);
  }
  const ReportFiles files = check_report_files(o.reports);
  ProgressPrinter printer(std::cerr, progress_style(o.quiet, files), ProgressPrinter::Clock::now, stderr_columns);

  auto server = Server::open(resolve_dsn(o.dsn));
  RunReport report = new_report(*server, settings, program, prepared);
  const ProgressCallback progress = [&printer](const Progress& p) { printer.show(p); };
  for (std::size_t i = 0; i < selected.size(); ++i) {
    report.scenarios.push_back(run_scenario(*server, selected[i]->info, *prepared.scenarios[i], settings, progress));
    printer.clear();
    if (!o.quiet) print_exploration(files.terminal(), report.scenarios.back());
    files.terminal().flush();
  }
  finish_report(report, started, files);
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
  command->add_option("--seed", o->seed, "Seed for sampling schedules, 0 to 2^64-1 (default: random)");
  command->add_option("--schedule", o->schedules,
                      "Run this schedule (step names, space-separated; steps left out are not run and their "
                      "sessions' transactions rolled back); repeatable");
  add_exploration_options(*command, o->exploration);
  command->add_option("--timeout", o->timeout, "End a scenario still running after this many seconds (default: max(10 x planned time, 60))");
  command->add_option("--statement-timeout", o->statement_timeout, "statement_timeout of pgrace's sessions, seconds (0: none; default 30)");
  command->add_option("-o,--option", o->options, "Scenario option key=value (repeatable)");
  add_report_options(*command, o->reports);
  command->add_flag("-q,--quiet", o->quiet, "Print nothing; use the exit code and reports");
  command->callback([selected, o, command] {
    *selected = [o, command] { return explore(*o, command->get_parent()->get_name()); };
  });
}

}  // namespace pgrace::cli
