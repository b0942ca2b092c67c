#include "selection.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <set>

#include "pgrace/error.hpp"

namespace pgrace::cli {
namespace {

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string closest_names(const std::string& pattern) {
  std::vector<std::pair<std::size_t, std::string>> ranked;
  for (const auto& d : registered_scenarios()) ranked.emplace_back(edit_distance(pattern, d.info.name), d.info.name);
  std::sort(ranked.begin(), ranked.end());
  std::string text;
  for (std::size_t i = 0; i < ranked.size() && i < 3; ++i) text += (i ? ", " : "") + ranked[i].second;
  return text;
}

}  // namespace

std::vector<const ScenarioDefinition*> select_scenarios(const std::vector<std::string>& patterns, bool all) {
  const auto& scenarios = registered_scenarios();
  if (!all && patterns.empty())
    throw usage_error("no scenario named: give names or globs (e.g. 'transfer.*') or --all; see pgrace list");
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
  return selected;
}

}  // namespace pgrace::cli
