#include <algorithm>
#include <stdexcept>

#include "pgrace/scenario.hpp"

namespace pgrace {
namespace {

std::vector<ScenarioDefinition>& registry() {
  static std::vector<ScenarioDefinition> scenarios;
  return scenarios;
}

}  // namespace

bool register_scenario(ScenarioDefinition definition, const char* source_file, int source_line) {
  if (source_file) {
    definition.info.source_file = source_file;
    definition.info.source_line = source_line;
  }
  auto& scenarios = registry();
  for (const auto& existing : scenarios)
    if (existing.info.name == definition.info.name)
      throw std::logic_error("scenario " + definition.info.name + " is registered twice");
  auto at = std::lower_bound(scenarios.begin(), scenarios.end(), definition.info.name,
                             [](const ScenarioDefinition& d, const std::string& n) { return d.info.name < n; });
  scenarios.insert(at, std::move(definition));
  return true;
}

const std::vector<ScenarioDefinition>& registered_scenarios() { return registry(); }

}  // namespace pgrace
