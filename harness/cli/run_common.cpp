#include "run_common.hpp"

#include <random>

#include "pgrace/error.hpp"

namespace pgrace::cli {

std::vector<std::unique_ptr<Scenario>> make_scenarios(const std::vector<const ScenarioDefinition*>& selected,
                                                      const std::vector<std::string>& option_items,
                                                      const RunSettings& settings) {
  Options options(option_items);
  std::vector<std::unique_ptr<Scenario>> scenarios;
  for (const auto* d : selected) {
    apply_overrides(d->info.defaults, settings);
    scenarios.push_back(make_scenario(*d, options));
  }
  if (auto unread = options.unread(); !unread.empty()) {
    std::string known;
    for (const auto& k : options.read_keys()) known += (known.empty() ? "" : ", ") + k;
    throw usage_error("option '" + unread.front() + "' is not read by any selected scenario (they read: " +
                      (known.empty() ? "none" : known) + ")");
  }
  return scenarios;
}

RunReport new_report(const Server& server, const RunSettings& settings) {
  RunReport report;
  report.tool_version = PGRACE_VERSION;
  report.started_at = utc_now();
  report.server_source = server.source();
  report.server_version = server.version();
  report.server_dsn = server.display_dsn();
  report.provision = server.timings();
  report.seed = settings.seed;
  report.repeat = settings.repeat;
  return report;
}

void finish_report(RunReport& report, std::chrono::steady_clock::time_point started, const std::string& json_path,
                   const std::string& junit_path) {
  report.exit_code = exit_code_of(report.scenarios);
  report.wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  if (!json_path.empty()) write_file_atomically(json_path, to_json(report).dump(2) + "\n");
  if (!junit_path.empty()) write_file_atomically(junit_path, to_junit(report));
}

std::uint64_t random_seed() {
  std::random_device random;
  return (static_cast<std::uint64_t>(random()) << 32) ^ random();
}

}  // namespace pgrace::cli
