#include "suggest.hpp"

#include <algorithm>

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

}  // namespace

std::vector<std::string> closest(const std::string& word, const std::vector<std::string>& candidates, std::size_t count,
                                 bool near_only) {
  std::vector<std::pair<std::size_t, std::size_t>> ranked;  // distance, index
  for (std::size_t i = 0; i < candidates.size(); ++i) ranked.emplace_back(edit_distance(word, candidates[i]), i);
  std::sort(ranked.begin(), ranked.end());
  const std::size_t near = std::max<std::size_t>(2, word.size() / 3);
  std::vector<std::string> out;
  for (const auto& [distance, index] : ranked)
    if (out.size() < count && (!near_only || distance <= near)) out.push_back(candidates[index]);
  return out;
}

}  // namespace pgrace::cli
