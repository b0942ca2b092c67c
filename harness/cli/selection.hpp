#pragma once
// Choosing scenarios by name or glob on the command line, and splitting the
// choice into CI shards.

#include <string>
#include <vector>

#include "pgrace/scenario.hpp"

namespace pgrace::cli {

// The scenarios of the scenario files among `arguments` (those ending in
// ".pgrace.toml", each a path or a glob of paths), loaded, in the order
// given; the definitions live as long as the program. Throws pgrace::Error
// (usage) for a glob that matches nothing, a malformed file (see
// files::load_scenario_file()) or a name another scenario has.
std::vector<const ScenarioDefinition*> load_scenario_files(const std::vector<std::string>& arguments);

// The registered scenarios matching any of `arguments` (exact names or shell
// globs such as 'transfer.*'), in registry order (sorted by name), each
// once, all of them if `all`; then those of the scenario files among
// `arguments` (load_scenario_files()). Throws pgrace::Error (usage) for a
// pattern that matches nothing, suggesting the closest names, or when
// nothing was asked for.
std::vector<const ScenarioDefinition*> select_scenarios(const std::vector<std::string>& arguments, bool all);

// `--shard I/N`: this is shard `index` (1-based) of `count`.
struct Shard {
  int index = 1;
  int count = 1;
};

// Parses "I/N" with 1 <= I <= N (digits only). Throws pgrace::Error (usage).
Shard parse_shard(const std::string& text);

// Shard `shard` of `selected` (sorted by name) for `pgrace run`: the
// scenarios whose work is not split (`split[i]` false: stress and check
// scenarios) dealt round-robin, shard I of N getting the I-th, (I+N)-th,
// (2N+I)-th ... of them; every scenario whose schedules are split over the
// shards (`split[i]` true: interleave scenarios, RunSettings::shard) in
// every shard. In the order of `selected`. The N shards' dealt scenarios
// are disjoint, their union is all of them and their sizes differ by at
// most one. Throws pgrace::Error (usage) for a shard with nothing to run
// (N exceeds the number of dealt scenarios and none is split): a CI job
// that tests nothing must not pass.
std::vector<const ScenarioDefinition*> shard_of(const std::vector<const ScenarioDefinition*>& selected,
                                                const std::vector<bool>& split, Shard shard);

}  // namespace pgrace::cli
