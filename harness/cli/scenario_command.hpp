#pragma once
// The skeleton that run, explore and matrix share: the knobs given on the
// command line, validated into RunSettings once; the scenarios made with
// their -o options; one server; each scenario run with progress on stderr;
// the report files. A command adds only what is its own (which scenarios,
// what it prints). Every problem with the command line is a pgrace::Error
// (usage) thrown before a server starts; main() prints it, as every error.

#include <CLI/CLI.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "pgrace/report.hpp"
#include "pgrace/runner.hpp"
#include "run_common.hpp"

namespace pgrace::cli {

// The options of a scenario command, as given.
struct ScenarioOptions {
  std::optional<std::string> dsn;
  std::vector<std::string> server_settings;  // --server-setting name=value, repeatable
  std::optional<std::string> isolation;
  std::optional<std::string> sync;
  std::optional<std::string> seed;
  std::optional<std::string> pool_size;  // numbers as given, parsed by settings_from (flags.hpp)
  std::optional<std::string> pool_timeout_ms;
  std::vector<std::string> faults;  // --fault, repeatable
  std::optional<std::string> timeout;
  std::optional<std::string> statement_timeout;
  ExplorationOptions exploration;
  std::vector<std::string> options;  // -o key=value
  ReportOptions reports;
  bool quiet = false;
  bool keep = false;  // --keep (run and explore add it; see keep.hpp)
};

// Which knobs a command offers besides --dsn, the report options and -q.
struct Offered {
  bool sync = false;           // the stress-mode knobs: --sync, --pool-size, --pool-timeout
  bool scenario_knobs = true;  // --isolation, --seed, --timeout, --statement-timeout, -o, exploration
};

// Adds the options of `offered` to `command`, storing into `options`.
// `seed_help` says what the seed is for in this command; `quiet_help` what -q leaves.
void add_scenario_options(CLI::App& command, ScenarioOptions& options, Offered offered, const std::string& seed_help,
                          const std::string& quiet_help);

// The settings `options` give: --isolation and --sync parsed together, the
// seed (random when not given), the pool, the timeouts and the exploration knobs.
// Throws pgrace::Error (usage) for any value out of range.
RunSettings settings_from(const ScenarioOptions& options);

// What a command prints while its scenarios run (each may be empty).
struct ScenarioHooks {
  std::function<void(std::ostream&, const Server&)> started;           // the server is up
  std::function<void(std::ostream&, const ScenarioResult&)> finished;  // one scenario is judged
  std::function<void(std::ostream&, const RunReport&)> reported;       // the report files are written
};

// Scenarios chosen and made, ready to run.
struct ScenarioBatch {
  std::vector<const ScenarioDefinition*> selected;
  PreparedScenarios prepared;  // make_scenarios() of `selected`
  RunSettings settings;
  ReportFiles files;       // check_report_files() of the options
  RunReport::Shard shard;  // recorded in the report (count 0: not sharded)
  // run --shard: the scenarios (index in `selected`) explored in part, as
  // this shard of their schedules (RunSettings::shard); explore --shard
  // sets settings.shard instead.
  std::map<std::size_t, ExplorationShard> split_shards;
};

// Opens the server of `options.dsn`, runs every scenario of `batch` with a
// progress line (unless -q), calls `hooks`, writes the report files, with
// --keep shows what was kept (and waits, see hold_kept()), stops the server
// and returns the report (its exit code set). `started` is when the command
// began; `program` is argv[0], for reproducer commands.
RunReport run_batch(const ScenarioBatch& batch, const ScenarioOptions& options, const ScenarioHooks& hooks,
                    std::chrono::steady_clock::time_point started, const std::string& program);

}  // namespace pgrace::cli
