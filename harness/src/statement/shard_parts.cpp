#include "statement/shard_parts.hpp"

namespace pgrace::detail {

void ShardParts::add_first(int draw, std::vector<int> choices, const std::vector<std::vector<int>>& branches) {
  First& first = firsts_[draw];
  first.choices = std::move(choices);
  first.part = parts_++;
  for (const auto& prefix : branches)
    if (!prefix.empty()) first.branch.emplace(std::make_pair(prefix.size() - 1, prefix.back()), parts_++);
}

bool ShardParts::owns(int draw, const std::vector<int>& prefix) const {
  const First& first = firsts_.at(draw);
  for (std::size_t i = 0; i < prefix.size() && i < first.choices.size(); ++i) {
    if (prefix[i] == first.choices[i]) continue;
    const auto branch = first.branch.find({i, prefix[i]});
    // Not a branch of the first execution: the server chose otherwise than
    // when it ran; the part stays the first execution's.
    return owns_part(branch == first.branch.end() ? first.part : branch->second);
  }
  return owns_part(first.part);
}

}  // namespace pgrace::detail
