// pgrace explore: run an interleave scenario's schedules one step at a time
// and show the violating ones, the minimal reproducer first.

#include <iostream>
#include <sstream>

#include "commands.hpp"
#include "flags.hpp"
#include "keep.hpp"
#include "pgrace/dsn.hpp"
#include "pgrace/error.hpp"
#include "pgrace/steps.hpp"
#include "scenario_command.hpp"
#include "selection.hpp"
#include "util/text.hpp"

namespace pgrace::cli {
namespace {

struct ExploreOptions {
  std::vector<std::string> patterns;
  std::vector<std::string> schedules;
  std::optional<std::string> workers;  // as given, parsed by explore (flags.hpp)
  std::optional<std::string> draws;
  std::optional<std::string> draw;
  std::optional<std::string> shard;
  ScenarioOptions common;
};

std::vector<std::string> words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

void print_reproducer(std::ostream& out, const ScenarioResult& r) {
  const Exploration& e = r.exploration;
  out << "minimal reproducer (violates";
  for (const auto& name : e.reproducer->violated) out << " \"" << name << "\"";
  out << "; " << e.reproducer->switches << " context switch(es)";
  if (e.inputs_drawn && e.reproducer->draw) out << "; input draw " << *e.reproducer->draw << ", --draw replays it";
  out << ")";
  if (e.shrinking && !e.shrinking->changes.empty()) {
    out << ", shrunk from the first violating schedule found (" << detail::joined(e.shrinking->original.schedule, " ")
        << "):\n";
    for (const auto& change : e.shrinking->changes) out << "  - " << change << "\n";
  } else {
    out << ":\n";
  }
  out << "replay it in psql, one terminal per " << (e.statement_workers ? "worker" : "session")
      << ", at isolation level " << to_sql(r.knobs.isolation) << ":\n";
  for (const StepRecord& step : e.reproducer->steps)
    if (step.fault)
      out << "(at " << step.step << " pgrace dropped the worker's connection: "
          << (*step.fault == FaultKind::drop_reply ? "it ran, its reply was lost, and the code saw an error"
                                                   : "it was never sent, and the code saw an error")
          << "; the worker's next requests come from a new connection)\n";
  out << schedule_text(*e.reproducer);
}

void print_exploration(std::ostream& out, const ScenarioResult& r) {
  const Exploration& e = r.exploration;
  out << (r.matched ? "ok   " : "FAIL ") << r.info.name << " (" << to_sql(r.knobs.isolation) << "): " << shard_prefix(e)
      << e.explored << " schedule(s) explored";
  // At statement level the total is only known once every execution ran:
  // a partial one knows a number that grows with the limit it stopped at.
  if (e.statement_workers && static_cast<std::uint64_t>(e.explored) < e.total)
    out << ", more remain";
  else if (e.total > 0)
    out << " of " << e.total;  // 0: the run ended before counting them
  out << ", " << e.violating << " violated";
  if (e.infeasible) out << ", " << e.infeasible << " infeasible";
  if (e.faulted) out << ", " << e.faulted << " with an injected fault";
  out << " (expected " << expectation_text(r.info.expectation) << ")\n";
  if (const std::string draws = draws_text(e); !draws.empty()) out << "  " << draws << "\n";
  if (const std::string shard = shard_text(e); !shard.empty()) out << "  " << shard << "\n";
  if (const std::string bounds = bounds_text(e); !bounds.empty()) out << "  " << bounds << "\n";
  if (!r.error.empty()) out << "  error: " << r.error << "\n";
  if (e.explored > e.infeasible)  // else no schedule was judged: nothing held or was violated
    for (const auto& inv : r.invariants)
      out << "  \"" << inv.name << "\": "
          << (inv.held ? "held in every schedule" : "violated in " + std::to_string(inv.violated_runs) + " schedule(s)")
          << "\n";
  if (e.statement_workers && r.matched && r.verdict == Verdict::violated)
    if (const auto unbroken = unbroken_expected(r); !unbroken.empty())
      out << "  expected, but no execution with " << e.statement_workers << " workers broke it: \""
          << detail::joined(unbroken, "\", \"") << "\"\n";
  if (!e.reproducer) return;
  print_reproducer(out, r);
  for (std::size_t i = 1; i < e.violating_schedules.size() && i < 6; ++i)
    out << "also violating: " << detail::joined(e.violating_schedules[i].schedule, " ") << "\n";
}

// Throws pgrace::Error (usage) for a scenario that explore has nothing to
// do with: a check scenario; a stress scenario without --workers. (What the
// engine refuses, check_runnable() says, from make_scenarios().)
void check_explorable(const ScenarioBatch& batch) {
  const auto workers = batch.settings.statement_workers;
  for (std::size_t i = 0; i < batch.selected.size(); ++i) {
    const ScenarioInfo& info = batch.selected[i]->info;
    if (info.checks_only)
      throw usage_error(info.name + " is a check scenario, with no work to explore: use pgrace run");
    if (batch.prepared.scenarios[i]->sessions().empty() && !workers)
      throw usage_error(info.name +
                        " is a stress scenario: explore its statements with --workers 2 (or 3), or use pgrace run");
  }
}

int explore(const ExploreOptions& o, const std::string& program) {
  const auto started = std::chrono::steady_clock::now();
  ScenarioBatch batch;
  batch.selected = select_scenarios(o.patterns, false);
  batch.settings = settings_from(o.common);
  if (o.workers) batch.settings.statement_workers = parse_setting<int>("statement_workers", *o.workers);
  if (o.draws) batch.settings.draws = parse_setting<int>("draws", *o.draws);
  if (o.draw) batch.settings.draw = parse_setting<int>("draw", *o.draw);
  if ((o.draws || o.draw) && !o.workers)
    throw usage_error(std::string(o.draws ? "--draws" : "--draw") +
                      " varies a stress scenario's inputs at statement level: give --workers too");
  if (o.shard) {
    const Shard shard = parse_shard(*o.shard);
    if (!o.common.seed)
      throw usage_error(
          "--shard needs --seed: the jobs split one exploration only when they share its seed; give "
          "every job the same --seed N");
    batch.settings.shard = ExplorationShard{shard.index, shard.count};
    batch.shard = {shard.index, shard.count, batch.selected.size()};
  }
  for (const auto& s : o.schedules) {
    batch.settings.schedules.push_back(words(s));
    if (batch.settings.schedules.back().empty())
      throw usage_error("--schedule needs at least one step name, got '" + s + "'");
  }
  batch.prepared = make_scenarios(batch.selected, o.common.options, batch.settings);
  check_explorable(batch);
  batch.files = check_report_files(o.common.reports);
  ScenarioHooks hooks;
  if (!o.common.quiet) hooks.finished = print_exploration;
  hooks.reported = [&batch](std::ostream& out, const RunReport& report) { print_total(out, report, batch.files); };
  return run_batch(batch, o.common, hooks, started, program).exit_code;
}

}  // namespace

void add_explore_command(CLI::App& app, const Selected& selected) {
  auto o = std::make_shared<ExploreOptions>();
  auto* command = app.add_subcommand(
      "explore", "Run an interleave scenario's schedules step by step; print the violating ones, minimal first");
  command->add_option("scenarios", o->patterns, "Interleave scenario names or globs (stress ones with --workers)")
      ->required();
  command->add_option("--workers", o->workers,
                      "Explore a stress scenario's statements: run its transaction() once on each of N workers (2-8) "
                      "through pgrace's wire proxy, one request at a time, fewest context switches first");
  command->add_option("--draws", o->draws,
                      "With --workers: explore this many input draws (default " + std::to_string(kDefaultDraws) +
                          "), each giving the workers' w.rng() new seeds from --seed, every draw's orders explored");
  command->add_option("--draw", o->draw,
                      "With --workers: explore only this input draw (0..), as a reproducer's replay command names it");
  command->add_option("--shard", o->shard,
                      "Explore only shard I of N (I/N, e.g. 2/4) of each scenario's executions, for N CI jobs that "
                      "together explore exactly what one job does, each execution once");
  command->add_option("--schedule", o->schedules,
                      "Run this schedule (step names, space-separated; steps left out are not run and their "
                      "sessions' transactions rolled back); repeatable");
  add_scenario_options(*command, o->common, Offered{false, true},
                       "Seed for sampling schedules, 0 to 2^64-1 (default: random)", "Print only the final line");
  add_keep_option(*command, o->common.keep);
  command->callback(
      [selected, o, command] { *selected = [o, command] { return explore(*o, command->get_parent()->get_name()); }; });
}

}  // namespace pgrace::cli
