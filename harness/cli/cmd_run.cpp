// pgrace run: run scenarios in stress mode, judge them, write reports.

#include <chrono>
#include <iostream>

#include "commands.hpp"
#include "pgrace/dsn.hpp"
#include "pgrace/error.hpp"
#include "pgrace/report.hpp"
#include "pgrace/runner.hpp"
#include "progress_printer.hpp"
#include "run_common.hpp"
#include "selection.hpp"

namespace pgrace::cli {
namespace {

struct RunOptions {
  std::vector<std::string> patterns;
  bool all = false;
  std::optional<std::string> shard;
  std::optional<std::string> dsn;
  std::optional<int> threads;
  std::optional<long> iterations;
  std::optional<double> duration;
  std::optional<std::string> isolation;
  std::optional<std::string> sync;
  std::optional<int> retries;
  std::optional<std::string> seed;
  int repeat = 1;
  std::optional<double> timeout;
  double statement_timeout = 30;
  ExplorationOptions exploration;
  std::vector<std::string> options;
  ReportOptions reports;
  bool quiet = false;
};

int run(const RunOptions& o, const std::string& program) {
  const auto started = std::chrono::steady_clock::now();
  // Everything that can be wrong with the command line fails before a server starts.
  auto selected = select_scenarios(o.patterns, o.all);
  const std::size_t selected_count = selected.size();
  std::optional<Shard> shard;
  if (o.shard) {
    shard = parse_shard(*o.shard);
    selected = shard_of(selected, *shard);
  }
  if (o.duration && o.iterations)
    throw usage_error("--duration and --iterations both given: a run is either timed or counted, give one");
  RunSettings settings;
  settings.threads = o.threads;
  settings.iterations = o.iterations;
  settings.duration_s = o.duration;
  if (o.isolation) settings.isolation = parse_isolation(*o.isolation);
  if (o.sync) {
    if (*o.sync != "start" && *o.sync != "round") throw usage_error("--sync must be 'start' or 'round'");
    settings.sync = *o.sync == "start" ? Sync::start : Sync::round;
  }
  settings.retries = o.retries;
  settings.repeat = o.repeat;
  settings.timeout_s = o.timeout;
  settings.statement_timeout_s = o.statement_timeout;
  apply_exploration_options(o.exploration, settings);
  settings.seed = o.seed ? parse_seed(*o.seed, "--seed") : random_seed();
  auto prepared = make_scenarios(selected, o.options, settings);
  const ReportFiles files = check_report_files(o.reports);
  std::ostream& out = files.terminal();
  ProgressPrinter printer(std::cerr, progress_style(o.quiet, files), ProgressPrinter::Clock::now, stderr_columns);

  auto server = Server::open(resolve_dsn(o.dsn));
  if (!o.quiet) {
    out << "pgrace " << PGRACE_VERSION << " on PostgreSQL " << server->version() << " (" << server->source()
        << "), seed " << settings.seed << "\n";
    if (shard)
      out << "shard " << shard->index << "/" << shard->count << ": " << selected.size() << " of " << selected_count
          << " selected scenarios\n";
  }
  RunReport report = new_report(*server, settings, program, prepared);
  if (shard) report.shard = {shard->index, shard->count, selected_count};
  const ProgressCallback progress = [&printer](const Progress& p) { printer.show(p); };
  for (std::size_t i = 0; i < selected.size(); ++i) {
    report.scenarios.push_back(run_scenario(*server, selected[i]->info, *prepared.scenarios[i], settings, progress));
    printer.clear();
    if (!o.quiet) out << summary_text(report.scenarios.back()) << std::flush;
  }
  finish_report(report, started, files);
  int matched = 0;
  for (const auto& r : report.scenarios) matched += r.matched;
  out << matched << "/" << report.scenarios.size() << " scenarios matched their expectation";
  if (shard) out << " (shard " << shard->index << "/" << shard->count << ")";
  if (files.json) out << "; report: " << files.json->path();
  out << "\n";
  return report.exit_code;
}

}  // namespace

void add_run_command(CLI::App& app, const Selected& selected) {
  auto o = std::make_shared<RunOptions>();
  auto* command = app.add_subcommand("run", "Run scenarios concurrently against PostgreSQL and check their invariants");
  command->add_option("scenarios", o->patterns, "Scenario names or globs, e.g. 'transfer.*'");
  command->add_flag("--all", o->all, "Run every registered scenario");
  command->add_option("--shard", o->shard, "Run only shard I of N of the selection (I/N, e.g. 2/4), for CI jobs");
  add_dsn_option(*command, o->dsn);
  command->add_option("--threads", o->threads, "Workers, one connection each (1-256; default: the scenario's)");
  command->add_option("--iterations", o->iterations, "Transactions per worker (default: the scenario's)");
  command->add_option("--duration", o->duration, "Run for this many seconds instead of a number of iterations");
  command->add_option("--isolation", o->isolation, "read_committed, repeatable_read or serializable (default: the scenario's)");
  command->add_option("--sync", o->sync, "Barrier before every transaction ('round') or only at the start ('start')");
  command->add_option("--retries", o->retries, "Retry 40001/40P01 up to N times (default: the scenario's)");
  command->add_option("--seed", o->seed, "Seed for the workers' random parameters, 0 to 2^64-1 (default: random, printed)");
  command->add_option("--repeat", o->repeat, "Run each scenario N times on fresh state; reports the detection rate");
  command->add_option("--timeout", o->timeout, "End a scenario still running after this many seconds (default: max(10 x planned time, 60))");
  command->add_option("--statement-timeout", o->statement_timeout, "statement_timeout of pgrace's sessions, seconds (0: none; default 30)");
  add_exploration_options(*command, o->exploration);
  command->add_option("-o,--option", o->options, "Scenario option key=value (repeatable), e.g. -o accounts=8");
  add_report_options(*command, o->reports);
  command->add_flag("-q,--quiet", o->quiet, "Print only the final line");
  command->callback([selected, o, command] {
    *selected = [o, command] { return run(*o, command->get_parent()->get_name()); };
  });
}

}  // namespace pgrace::cli
