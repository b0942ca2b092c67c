// pgrace run: run scenarios in stress mode, judge them, write reports.

#include <algorithm>
#include <chrono>
#include <iostream>

#include "commands.hpp"
#include "flags.hpp"
#include "keep.hpp"
#include "pgrace/dsn.hpp"
#include "pgrace/error.hpp"
#include "pgrace/report.hpp"
#include "pgrace/runner.hpp"
#include "scenario_command.hpp"
#include "selection.hpp"

namespace pgrace::cli {
namespace {

struct RunOptions {
  std::vector<std::string> patterns;
  bool all = false;
  std::optional<std::string> shard;
  std::optional<std::string> threads;  // numbers as given, parsed by run_settings (flags.hpp)
  std::optional<std::string> iterations;
  std::optional<std::string> duration;
  std::optional<std::string> retries;
  std::optional<std::string> repeat;
  ScenarioOptions common;
};

RunSettings run_settings(const RunOptions& o) {
  if (o.duration && o.iterations)
    throw usage_error("--duration and --iterations both given: a run is either timed or counted, give one");
  RunSettings settings = settings_from(o.common);
  if (o.threads) settings.threads = parse_setting<int>("threads", *o.threads);
  if (o.iterations) settings.iterations = parse_setting<long>("iterations", *o.iterations);
  if (o.duration) settings.duration_s = parse_setting<double>("duration_s", *o.duration);
  if (o.retries) settings.retries = parse_setting<int>("retries", *o.retries);
  if (o.repeat) settings.repeat = parse_setting<int>("repeat", *o.repeat);
  return settings;
}

// Which of `selected` are interleave scenarios, whose schedules --shard
// splits over the jobs (made with the -o options only to ask).
std::vector<bool> interleaved(const std::vector<const ScenarioDefinition*>& selected,
                              const std::vector<std::string>& option_items, const RunSettings& settings) {
  const PreparedScenarios all = make_scenarios(selected, option_items, settings);
  std::vector<bool> split;
  for (const auto& scenario : all.scenarios) split.push_back(!scenario->sessions().empty());
  return split;
}

int run(const RunOptions& o, const std::string& program) {
  const auto started = std::chrono::steady_clock::now();
  // Everything that can be wrong with the command line fails before a server starts.
  ScenarioBatch batch;
  batch.selected = select_scenarios(o.patterns, o.all);
  const std::size_t selected_count = batch.selected.size();
  std::optional<Shard> shard;
  std::size_t dealt_count = 0;  // of the selection: stress and check scenarios
  batch.settings = run_settings(o);
  if (o.shard) {
    if (o.common.keep)
      throw usage_error("--keep keeps the databases of one run for inspection, and --shard splits a CI run: drop one");
    shard = parse_shard(*o.shard);
    const std::vector<bool> split = interleaved(batch.selected, o.common.options, batch.settings);
    dealt_count = static_cast<std::size_t>(std::count(split.begin(), split.end(), false));
    batch.selected = shard_of(batch.selected, split, *shard);
    batch.shard = {shard->index, shard->count, selected_count};
  }
  batch.prepared = make_scenarios(batch.selected, o.common.options, batch.settings);
  if (shard)
    for (std::size_t i = 0; i < batch.selected.size(); ++i)
      if (!batch.prepared.scenarios[i]->sessions().empty())
        batch.split_shards[i] = ExplorationShard{shard->index, shard->count};
  batch.files = check_report_files(o.common.reports);

  ScenarioHooks hooks;
  if (!o.common.quiet) {
    hooks.started = [&](std::ostream& out, const Server& server) {
      out << "pgrace " << PGRACE_VERSION << " on PostgreSQL " << server.version() << " (" << server.source()
          << "), seed " << batch.settings.seed << "\n";
      if (shard)
        out << "shard " << shard->index << "/" << shard->count << ": "
            << batch.selected.size() - batch.split_shards.size() << " of the " << dealt_count
            << " stress and check scenarios, and its share of the schedules of " << batch.split_shards.size()
            << " interleave scenario(s)\n";
    };
    hooks.finished = [](std::ostream& out, const ScenarioResult& r) { out << summary_text(r); };
  }
  hooks.reported = [&batch](std::ostream& out, const RunReport& report) { print_total(out, report, batch.files); };
  return run_batch(batch, o.common, hooks, started, program).exit_code;
}

}  // namespace

void add_run_command(CLI::App& app, const Selected& selected) {
  auto o = std::make_shared<RunOptions>();
  auto* command = app.add_subcommand("run", "Run scenarios concurrently against PostgreSQL and check their invariants");
  command->add_option("scenarios", o->patterns, "Scenario names or globs, e.g. 'transfer.*'");
  command->add_flag("--all", o->all, "Run every registered scenario");
  command->add_option("--shard", o->shard,
                      "Run shard I of N (I/N, e.g. 2/4), for N CI jobs: the stress and check scenarios dealt over "
                      "the jobs, every interleave scenario's schedules split over all of them");
  command->add_option("--threads", o->threads, "Workers, one connection each (1-256; default: the scenario's)");
  command->add_option("--iterations", o->iterations, "Transactions per worker (1-1000000000; default: the scenario's)");
  command->add_option("--duration", o->duration,
                      "Run for this many seconds (0.01-86400) instead of a number of iterations");
  command->add_option("--retries", o->retries, "Retry 40001/40P01 up to N times (0-1000; default: the scenario's)");
  command->add_option("--repeat", o->repeat,
                      "Run each scenario N times on fresh state (1-1000000); reports the detection rate");
  add_scenario_options(*command, o->common, Offered{true, true},
                       "Seed for the workers' random parameters, 0 to 2^64-1 (default: random, printed)",
                       "Print only the final line");
  add_keep_option(*command, o->common.keep);
  command->callback(
      [selected, o, command] { *selected = [o, command] { return run(*o, command->get_parent()->get_name()); }; });
}

}  // namespace pgrace::cli
