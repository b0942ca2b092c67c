#pragma once
// What run, explore and matrix share: creating the selected scenarios with
// their options, the seed, and the report files.

#include <CLI/CLI.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "pgrace/report.hpp"
#include "pgrace/runner.hpp"
#include "pgrace/seed.hpp"
#include "progress_printer.hpp"

namespace pgrace::cli {

// The scenarios to run, created with the -o options.
struct PreparedScenarios {
  std::vector<std::unique_ptr<Scenario>> scenarios;  // in the order of the selection
  std::vector<ScenarioMaker> makers;                 // more instances of each, with the same options
  // Per scenario name, the given -o items ("key=value") that scenario read.
  std::map<std::string, std::vector<std::string>> options_read;
};

// Creates each selected scenario with the -o options; checks the knobs the
// settings produce. Throws pgrace::Error (usage) for an option none of them
// read or an out-of-range setting.
PreparedScenarios make_scenarios(const std::vector<const ScenarioDefinition*>& selected,
                                 const std::vector<std::string>& option_items, const RunSettings& settings);

// --report, --junit, --junit-suite and --html as given.
struct ReportOptions {
  std::optional<std::string> json;
  std::optional<std::string> junit;
  std::optional<std::string> html;
  std::string junit_suite = "pgrace";
};
void add_report_options(CLI::App& command, ReportOptions& options);

// Interleave mode's --max-schedules, --max-switches, --budget and
// --step-timeout, as given.
// Numbers as given: parsed by apply_exploration_options (flags.hpp).
struct ExplorationOptions {
  std::optional<std::string> max_schedules;
  std::optional<std::string> max_switches;
  std::optional<std::string> budget;
  std::optional<std::string> step_timeout_ms;
};
// Adds --step-timeout and, with `bounds`, --max-schedules, --max-switches and --budget.
void add_exploration_options(CLI::App& command, ExplorationOptions& options, bool bounds = true);

// Puts `options` into `settings`. Throws pgrace::Error (usage) for a value
// that is not a number in its range (flags.hpp, pgrace::limits).
void apply_exploration_options(const ExplorationOptions& options, RunSettings& settings);

// The report files of a run, checked before it starts.
struct ReportFiles {
  std::optional<ReportFile> json;
  std::optional<ReportFile> junit;
  std::optional<ReportFile> html;
  std::string junit_suite;
  // Where the terminal text goes: stderr when a report goes to stdout.
  std::ostream& terminal() const;
};

// Checks the report paths (creating nothing): throws pgrace::Error (usage)
// for an empty path, one that cannot be written, or two naming one file.
ReportFiles check_report_files(const ReportOptions& options);

// How run and explore show progress on stderr (see stderr_progress_style):
// not at all when `quiet` or when a report goes to stderr.
ProgressStyle progress_style(bool quiet, const ReportFiles& files);

// A report header for a run on `server` by `program` (argv[0]).
RunReport new_report(const Server& server, const RunSettings& settings, const std::string& program,
                     const PreparedScenarios& prepared);

// What the file beside a JSON report written as a regular file is named
// after it: FILE.server.log holds the server log lines of its scenarios
// (ScenarioResult::server_log), each under a "== name (verdict)" line.
inline constexpr char kServerLogSuffix[] = ".server.log";

// Fills in the exit code and wall time and writes the report files that
// were asked for (creating missing parent directories now), and the server
// log beside the JSON report when some scenario has log lines.
void finish_report(RunReport& report, std::chrono::steady_clock::time_point started, const ReportFiles& files);

// The last line of run and explore (the only one with -q): how many
// scenarios matched their expectation, the shard, the JSON report's path.
void print_total(std::ostream& out, const RunReport& report, const ReportFiles& files);

}  // namespace pgrace::cli
