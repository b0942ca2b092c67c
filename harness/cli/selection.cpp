#include "selection.hpp"

#include <fnmatch.h>
#include <glob.h>

#include <algorithm>
#include <charconv>
#include <deque>
#include <filesystem>
#include <set>

#include "files/file_scenario.hpp"
#include "pgrace/error.hpp"
#include "suggest.hpp"

namespace pgrace::cli {
namespace {

std::string closest_names(const std::string& pattern) {
  std::vector<std::string> names;
  for (const auto& d : registered_scenarios()) names.push_back(d.info.name);
  std::string text;
  for (const auto& name : closest(pattern, names, 3, false)) text += (text.empty() ? "" : ", ") + name;
  return text;
}

// The paths a scenario-file argument names: itself, or what it matches as a glob.
std::vector<std::string> paths_of(const std::string& pattern) {
  glob_t found{};
  std::vector<std::string> paths;
  if (glob(pattern.c_str(), 0, nullptr, &found) == 0)
    for (std::size_t i = 0; i < found.gl_pathc; ++i) paths.emplace_back(found.gl_pathv[i]);
  globfree(&found);
  if (paths.empty() && pattern.find_first_of("*?[") != std::string::npos)
    throw usage_error("no scenario file matches '" + pattern + "': check the path (relative to " +
                      std::filesystem::current_path().string() + ")");
  if (paths.empty()) paths.push_back(pattern);  // load_scenario_file() says what is wrong with it
  return paths;
}

}  // namespace

std::vector<const ScenarioDefinition*> load_scenario_files(const std::vector<std::string>& arguments) {
  static std::deque<ScenarioDefinition> loaded;  // lives as long as the registry
  std::vector<const ScenarioDefinition*> definitions;
  std::set<std::string> names;
  for (const auto& argument : arguments) {
    if (!files::is_scenario_file(argument)) continue;
    for (const auto& path : paths_of(argument)) {
      auto file = std::make_shared<const files::ScenarioFile>(files::load_scenario_file(path));
      const bool registered = std::any_of(registered_scenarios().begin(), registered_scenarios().end(),
                                          [&file](const ScenarioDefinition& d) { return d.info.name == file->name; });
      if (registered || !names.insert(file->name).second)
        throw usage_error(file->path.string() + ": key 'name': '" + file->name +
                          "' is taken by another scenario: give the file a name of its own");
      loaded.push_back(files::definition_of(std::move(file)));
      definitions.push_back(&loaded.back());
    }
  }
  return definitions;
}

std::vector<const ScenarioDefinition*> select_scenarios(const std::vector<std::string>& arguments, bool all) {
  const auto& scenarios = registered_scenarios();
  if (!all && arguments.empty())
    throw usage_error(
        "no scenario named: give names or globs (e.g. 'transfer.*'), scenario files or --all; "
        "see pgrace list");
  std::vector<const ScenarioDefinition*> from_files = load_scenario_files(arguments);
  std::vector<std::string> patterns;
  for (const auto& argument : arguments)
    if (!files::is_scenario_file(argument)) patterns.push_back(argument);
  std::set<std::string> chosen;
  for (const auto& pattern : patterns) {
    bool matched = false;
    for (const auto& d : scenarios)
      if (fnmatch(pattern.c_str(), d.info.name.c_str(), 0) == 0) {
        chosen.insert(d.info.name);
        matched = true;
      }
    if (!matched)
      throw usage_error("no scenario matches '" + pattern + "': did you mean " + closest_names(pattern) +
                        "? (pgrace list shows them all)");
  }
  std::vector<const ScenarioDefinition*> selected;
  for (const auto& d : scenarios)
    if (all || chosen.count(d.info.name)) selected.push_back(&d);
  selected.insert(selected.end(), from_files.begin(), from_files.end());
  return selected;
}

Shard parse_shard(const std::string& text) {
  const auto slash = text.find('/');
  Shard shard{0, 0};
  const auto number = [](const std::string& digits, int& into) {
    const char* end = digits.data() + digits.size();
    return !digits.empty() && digits.find_first_not_of("0123456789") == std::string::npos &&
           std::from_chars(digits.data(), end, into).ptr == end;
  };
  if (slash == std::string::npos || !number(text.substr(0, slash), shard.index) ||
      !number(text.substr(slash + 1), shard.count) || shard.index < 1 || shard.index > shard.count)
    throw usage_error("--shard must be I/N with 1 <= I <= N, e.g. --shard 2/4 for the second of four CI jobs; got '" +
                      text + "'");
  return shard;
}

std::vector<const ScenarioDefinition*> shard_of(const std::vector<const ScenarioDefinition*>& selected,
                                                const std::vector<bool>& split, Shard shard) {
  std::vector<const ScenarioDefinition*> mine;
  std::size_t dealt = 0;  // scenarios dealt so far
  for (std::size_t i = 0; i < selected.size(); ++i)
    if (split[i] || dealt++ % static_cast<std::size_t>(shard.count) == static_cast<std::size_t>(shard.index - 1))
      mine.push_back(selected[i]);
  if (mine.empty())
    throw usage_error("shard " + std::to_string(shard.index) + "/" + std::to_string(shard.count) + " is empty: only " +
                      std::to_string(selected.size()) + " scenario(s) are selected, fewer than the " +
                      std::to_string(shard.count) + " shards; use at most " + std::to_string(selected.size()) +
                      " shards");
  return mine;
}

}  // namespace pgrace::cli
