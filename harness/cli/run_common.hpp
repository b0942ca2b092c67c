#pragma once
// What run, explore and matrix share: creating the selected scenarios with
// their options, and writing reports.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "pgrace/report.hpp"
#include "pgrace/runner.hpp"

namespace pgrace::cli {

// Creates each selected scenario with the -o options; checks the knobs the
// settings produce. Throws pgrace::Error (usage) for an option none of them
// read or an out-of-range setting.
std::vector<std::unique_ptr<Scenario>> make_scenarios(const std::vector<const ScenarioDefinition*>& selected,
                                                      const std::vector<std::string>& option_items,
                                                      const RunSettings& settings);

// A report header for a run on `server`.
RunReport new_report(const Server& server, const RunSettings& settings);

// Fills in the exit code and wall time and writes the JSON and JUnit files
// that were asked for ("" = not asked).
void finish_report(RunReport& report, std::chrono::steady_clock::time_point started, const std::string& json_path,
                   const std::string& junit_path);

// A random seed, for when none was given.
std::uint64_t random_seed();

}  // namespace pgrace::cli
