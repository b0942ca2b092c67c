#pragma once
// Choosing scenarios by name or glob on the command line.

#include <string>
#include <vector>

#include "pgrace/scenario.hpp"

namespace pgrace::cli {

// The registered scenarios matching any of `patterns` (exact names or shell
// globs such as 'transfer.*'), in registry order, each once; all of them if
// `all`. Throws pgrace::Error (usage) for a pattern that matches nothing,
// suggesting the closest names, or when nothing was asked for.
std::vector<const ScenarioDefinition*> select_scenarios(const std::vector<std::string>& patterns, bool all);

}  // namespace pgrace::cli
