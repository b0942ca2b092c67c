#pragma once
// How a statement-level exploration is split over shards (RunSettings::
// shard). Its executions form one tree per input draw: the draw's first
// execution (no prefix, 0 switches) at the root, every other execution
// below the one whose run discovered it. The parts dealt round-robin over
// the shards are, draw by draw, the first execution, then each order that
// branches off it within the switch bound (in the order branches() lists
// them) with every execution below that order. Every shard runs each draw's first execution
// (to learn its branches) but judges it only when it owns it. A faulted
// execution belongs to the part its prefix lies in, whichever execution
// planted it. Internal to pgrace.

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "pgrace/settings.hpp"

namespace pgrace::detail {

class ShardParts {
 public:
  explicit ShardParts(ExplorationShard shard) : shard_(shard) {}

  // Whether this shard owns the next draw's first execution (the part
  // add_first() will record next).
  bool owns_next_first() const { return owns_part(parts_); }

  // Records draw `draw`'s first execution: its choices (worker per choice
  // point) and the prefixes of the orders branching off it, in branches()'s
  // order. Draws are recorded in order, each once.
  void add_first(int draw, std::vector<int> choices, const std::vector<std::vector<int>>& branches);

  // Whether this shard owns the part `prefix` of draw `draw` (recorded)
  // lies in: the first execution's while it follows its choices, else the
  // branch where it leaves them.
  bool owns(int draw, const std::vector<int>& prefix) const;

  // The parts recorded so far.
  std::uint64_t parts() const { return parts_; }

 private:
  bool owns_part(std::uint64_t part) const {
    return part % static_cast<std::uint64_t>(shard_.count) == static_cast<std::uint64_t>(shard_.index - 1);
  }
  struct First {
    std::vector<int> choices;
    std::uint64_t part = 0;                                       // the first execution's
    std::map<std::pair<std::size_t, int>, std::uint64_t> branch;  // (choice point, worker): its part
  };
  ExplorationShard shard_;
  std::map<int, First> firsts_;  // per draw
  std::uint64_t parts_ = 0;
};

}  // namespace pgrace::detail
