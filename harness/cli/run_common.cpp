#include "run_common.hpp"

#include <filesystem>
#include <iostream>
#include <set>

#include "flags.hpp"
#include "pgrace/error.hpp"

namespace pgrace::cli {
namespace {

std::string key_of(const std::string& option_item) { return option_item.substr(0, option_item.find('=')); }

// Throws pgrace::Error (usage) for a flag that changes nothing for any of
// the selected scenarios (--threads for check and interleave scenarios).
void refuse_settings_without_effect(const std::vector<const ScenarioDefinition*>& selected,
                                    const PreparedScenarios& prepared, const RunSettings& settings) {
  std::map<std::string, std::size_t> unused;  // setting: scenarios it does nothing for
  for (std::size_t i = 0; i < selected.size(); ++i)
    for (const auto& setting : settings_without_effect(selected[i]->info, *prepared.scenarios[i], settings))
      ++unused[setting];
  for (const auto& [setting, count] : unused)
    if (count == selected.size())
      throw usage_error(std::string(flag_for(setting).name) + " does nothing for " +
                        (count == 1 ? selected.front()->info.name : "any of the selected scenarios") +
                        ": it sets the concurrent workers of a stress scenario, and check and interleave scenarios "
                        "have none; drop it");
}

// The server log lines of the scenarios that have some, each scenario's
// under a line naming it; "" when none has any.
std::string server_log_text(const RunReport& report) {
  std::string text;
  for (const auto& r : report.scenarios) {
    if (r.server_log.empty()) continue;
    text += "== " + r.info.name + " (" + to_string(r.verdict) + "): the server's log while it ran\n";
    for (const auto& line : r.server_log) text += line + "\n";
  }
  return text;
}

// Writes the server log lines beside the report at `path` (none: removes an
// older run's file there, which would be taken for this run's).
void write_server_log(const std::string& path, const RunReport& report) {
  const std::string text = server_log_text(report);
  if (!text.empty()) return write_file_atomically(path, text);
  std::error_code ignored;
  std::filesystem::remove(path, ignored);
}

}  // namespace

PreparedScenarios make_scenarios(const std::vector<const ScenarioDefinition*>& selected,
                                 const std::vector<std::string>& option_items, const RunSettings& settings) {
  (void)Options(option_items);  // a malformed item fails here, before any scenario is made
  PreparedScenarios prepared;
  std::set<std::string> known;  // every key some scenario read (given or not)
  for (const auto* d : selected) {
    naming_flags([&] { return apply_overrides(d->info.defaults, settings, d->info.name); });
    Options own(option_items);
    prepared.scenarios.push_back(make_scenario(*d, own));
    prepared.makers.push_back([d, option_items] {
      Options again(option_items);
      return d->make(again);
    });
    naming_flags([&] { check_runnable(d->info, *prepared.scenarios.back(), settings); });
    auto& read = prepared.options_read[d->info.name];
    for (const auto& item : option_items)
      if (own.read_keys().count(key_of(item))) read.push_back(item);
    known.insert(own.read_keys().begin(), own.read_keys().end());
  }
  refuse_settings_without_effect(selected, prepared, settings);
  for (const auto& item : option_items)
    if (!known.count(key_of(item))) {
      std::string names;
      for (const auto& k : known) names += (names.empty() ? "" : ", ") + k;
      throw usage_error("option '" + key_of(item) +
                        "' is not read by any selected scenario (they read: " + (names.empty() ? "none" : names) + ")");
    }
  return prepared;
}

void add_report_options(CLI::App& command, ReportOptions& o) {
  command.add_option("--report", o.json, "Write the JSON report here (a file, a FIFO or /dev/stdout)");
  command.add_option("--junit", o.junit, "Write JUnit XML here (a file, a FIFO or /dev/stdout)");
  command.add_option("--junit-suite", o.junit_suite, "Name of the JUnit test suite (default 'pgrace')");
  command.add_option(
      "--html", o.html,
      "Write a self-contained HTML page drawing each scenario's timeline here (a file, a FIFO or /dev/stdout)");
}

std::ostream& ReportFiles::terminal() const {
  const bool to_stdout = (json && json->is_stdout()) || (junit && junit->is_stdout()) || (html && html->is_stdout());
  return to_stdout ? std::cerr : std::cout;
}

namespace {

// The report file `flag` names, if given. Throws pgrace::Error (usage) for an empty path.
std::optional<ReportFile> report_file(const char* flag, const std::optional<std::string>& path) {
  if (!path) return std::nullopt;
  if (path->empty()) throw usage_error(std::string(flag) + " needs a file name, got an empty one");
  return ReportFile(*path);
}

}  // namespace

ReportFiles check_report_files(const ReportOptions& o) {
  ReportFiles files;
  files.junit_suite = o.junit_suite;
  if (o.junit_suite.empty()) throw usage_error("--junit-suite needs a name, got an empty one");
  files.json = report_file("--report", o.json);
  files.junit = report_file("--junit", o.junit);
  files.html = report_file("--html", o.html);
  const std::pair<const char*, const std::optional<ReportFile>*> named[] = {
      {"--report", &files.json}, {"--junit", &files.junit}, {"--html", &files.html}};
  for (std::size_t i = 0; i < std::size(named); ++i)
    for (std::size_t k = i + 1; k < std::size(named); ++k) {
      const auto& [flag, file] = named[i];
      const auto& [other_flag, other] = named[k];
      if (*file && *other && (*file)->same_file_as(**other))
        throw usage_error(std::string(flag) + " " + (*file)->path() + " and " + other_flag + " " + (*other)->path() +
                          " name the same file: give them different paths");
    }
  return files;
}

ProgressStyle progress_style(bool quiet, const ReportFiles& files) {
  const bool report_to_stderr = (files.json && files.json->is_stderr()) || (files.junit && files.junit->is_stderr()) ||
                                (files.html && files.html->is_stderr());
  return stderr_progress_style(quiet || report_to_stderr);
}

RunReport new_report(const Server& server, const RunSettings& settings, const std::string& program,
                     const PreparedScenarios& prepared) {
  RunReport report;
  report.tool_version = PGRACE_VERSION;
  report.started_at = utc_now();
  report.server_source = server.source();
  report.server_version = server.version();
  report.server_dsn = server.display_dsn();
  report.provision = server.timings();
  report.server_settings = server.settings();
  report.seed = settings.seed;
  report.repeat = settings.repeat;
  report.max_schedules = settings.max_schedules;
  report.program = program;
  report.scenario_options = prepared.options_read;
  return report;
}

void finish_report(RunReport& report, std::chrono::steady_clock::time_point started, const ReportFiles& files) {
  report.exit_code = exit_code_of(report.scenarios);
  report.wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  // Witnesses may hold any bytes: invalid UTF-8 becomes U+FFFD instead of an exception.
  if (files.json)
    files.json->write(to_json(report).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  if (const auto log = files.json ? files.json->beside(kServerLogSuffix) : std::nullopt) write_server_log(*log, report);
  if (files.junit) files.junit->write(to_junit(report, files.junit_suite));
  if (files.html) files.html->write(to_html(report));
}

void print_total(std::ostream& out, const RunReport& report, const ReportFiles& files) {
  int matched = 0;
  for (const auto& r : report.scenarios) matched += r.matched;
  out << matched << "/" << report.scenarios.size() << " scenarios matched their expectation";
  if (report.shard.count) out << " (shard " << report.shard.index << "/" << report.shard.count << ")";
  if (files.json) out << "; report: " << files.json->path();
  out << "\n";
}

void add_exploration_options(CLI::App& command, ExplorationOptions& options, bool bounds) {
  command.add_option("--step-timeout", options.step_timeout_ms,
                     "Interleave mode: cancel a step that neither completes nor waits on a lock within this many ms "
                     "(default 5000)");
  if (!bounds) return;
  command.add_option("--max-schedules", options.max_schedules,
                     "Interleave mode: run at most this many schedules, sampled when there are more (default 1000)");
  command.add_option("--max-switches", options.max_switches,
                     "Interleave mode: only schedules with at most this many context switches (default: all)");
  command.add_option("--budget", options.budget,
                     "Interleave mode: stop exploring after this many seconds, keeping what was found");
}

void apply_exploration_options(const ExplorationOptions& options, RunSettings& settings) {
  if (options.max_schedules)
    settings.max_schedules = parse_setting<std::size_t>("max_schedules", *options.max_schedules);
  if (options.max_switches) settings.max_switches = parse_setting<int>("max_switches", *options.max_switches);
  if (options.budget) settings.budget_s = parse_setting<double>("budget_s", *options.budget);
  if (options.step_timeout_ms)
    settings.step_timeout = std::chrono::milliseconds(parse_setting<long>("step_timeout", *options.step_timeout_ms));
}

}  // namespace pgrace::cli
