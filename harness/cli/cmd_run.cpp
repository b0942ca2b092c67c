// pgrace run: run scenarios in stress mode, judge them, write reports.

#include <chrono>
#include <iostream>

#include "commands.hpp"
#include "pgrace/dsn.hpp"
#include "pgrace/error.hpp"
#include "pgrace/report.hpp"
#include "pgrace/runner.hpp"
#include "run_common.hpp"
#include "selection.hpp"

namespace pgrace::cli {
namespace {

struct RunOptions {
  std::vector<std::string> patterns;
  bool all = false;
  std::optional<std::string> dsn;
  std::optional<int> threads;
  std::optional<long> iterations;
  std::optional<double> duration;
  std::optional<std::string> isolation;
  std::optional<std::string> sync;
  std::optional<int> retries;
  std::optional<std::uint64_t> seed;
  int repeat = 1;
  std::optional<double> timeout;
  double statement_timeout = 30;
  std::vector<std::string> options;
  std::string report;
  std::string junit;
  bool quiet = false;
};

int run(const RunOptions& o) {
  const auto started = std::chrono::steady_clock::now();
  // Everything that can be wrong with the command line fails before a server starts.
  const auto selected = select_scenarios(o.patterns, o.all);
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
  settings.seed = o.seed ? *o.seed : random_seed();
  auto scenarios = make_scenarios(selected, o.options, settings);
  if (!o.report.empty()) check_writable(o.report);
  if (!o.junit.empty()) check_writable(o.junit);

  auto server = Server::open(resolve_dsn(o.dsn));
  if (!o.quiet)
    std::cout << "pgrace " << PGRACE_VERSION << " on PostgreSQL " << server->version() << " (" << server->source()
              << "), seed " << settings.seed << "\n";
  RunReport report = new_report(*server, settings);
  ProgressCallback progress;
  if (!o.quiet)
    progress = [&](const std::string& name, int repetition, long ended) {
      std::cerr << "  ... " << name << ": run " << repetition + 1 << "/" << settings.repeat << ", " << ended
                << " transactions so far\n";
    };
  for (std::size_t i = 0; i < selected.size(); ++i) {
    report.scenarios.push_back(run_scenario(*server, selected[i]->info, *scenarios[i], settings, progress));
    if (!o.quiet) std::cout << summary_text(report.scenarios.back()) << std::flush;
  }
  finish_report(report, started, o.report, o.junit);
  int matched = 0;
  for (const auto& r : report.scenarios) matched += r.matched;
  std::cout << matched << "/" << report.scenarios.size() << " scenarios matched their expectation";
  if (!o.report.empty()) std::cout << "; report: " << o.report;
  std::cout << "\n";
  return report.exit_code;
}

}  // namespace

void add_run_command(CLI::App& app, const Selected& selected) {
  auto o = std::make_shared<RunOptions>();
  auto* command = app.add_subcommand("run", "Run scenarios concurrently against PostgreSQL and check their invariants");
  command->add_option("scenarios", o->patterns, "Scenario names or globs, e.g. 'transfer.*'");
  command->add_flag("--all", o->all, "Run every registered scenario");
  add_dsn_option(*command, o->dsn);
  command->add_option("--threads", o->threads, "Workers, one connection each (1-256; default: the scenario's)");
  command->add_option("--iterations", o->iterations, "Transactions per worker (default: the scenario's)");
  command->add_option("--duration", o->duration, "Run for this many seconds instead of a number of iterations");
  command->add_option("--isolation", o->isolation, "read_committed, repeatable_read or serializable (default: the scenario's)");
  command->add_option("--sync", o->sync, "Barrier before every transaction ('round') or only at the start ('start')");
  command->add_option("--retries", o->retries, "Retry 40001/40P01 up to N times (default: the scenario's)");
  command->add_option("--seed", o->seed, "Seed for the workers' random parameters (default: random, printed)");
  command->add_option("--repeat", o->repeat, "Run each scenario N times on fresh state; reports the detection rate");
  command->add_option("--timeout", o->timeout, "End a scenario still running after this many seconds (default: max(10 x planned time, 60))");
  command->add_option("--statement-timeout", o->statement_timeout, "statement_timeout of pgrace's sessions, seconds (0: none; default 30)");
  command->add_option("-o,--option", o->options, "Scenario option key=value (repeatable), e.g. -o accounts=8");
  command->add_option("--report", o->report, "Write the JSON report here");
  command->add_option("--junit", o->junit, "Write JUnit XML here");
  command->add_flag("-q,--quiet", o->quiet, "Print only the final line");
  command->callback([selected, o] { *selected = [o] { return run(*o); }; });
}

}  // namespace pgrace::cli
