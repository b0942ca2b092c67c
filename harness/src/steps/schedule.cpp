#include "pgrace/schedule.hpp"

#include <algorithm>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <tuple>

namespace pgrace {
namespace {

void enumerate(std::vector<int>& remaining, SessionOrder& prefix, std::vector<SessionOrder>& out) {
  bool done = true;
  for (std::size_t s = 0; s < remaining.size(); ++s) {
    if (remaining[s] == 0) continue;
    done = false;
    --remaining[s];
    prefix.push_back(static_cast<int>(s));
    enumerate(remaining, prefix, out);
    prefix.pop_back();
    ++remaining[s];
  }
  if (done) out.push_back(prefix);
}

constexpr auto kMaxCount = std::numeric_limits<std::uint64_t>::max();

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) { return a > kMaxCount - b ? kMaxCount : a + b; }

// Counts and walks the interleavings that use an exact number of context
// switches, from a state: the steps each session has left, the session of
// the last step (-1 before the first) and the switches still to be used.
class SwitchTree {
 public:
  // Completions of the state (saturating), memoised.
  std::uint64_t count(const std::vector<int>& remaining, int last, int switches) {
    if (switches < 0) return 0;
    const auto key = std::make_tuple(remaining, last, switches);
    if (auto it = memo_.find(key); it != memo_.end()) return it->second;
    std::uint64_t total = 0;
    bool done = true;
    auto next = remaining;
    for (std::size_t s = 0; s < remaining.size(); ++s) {
      if (remaining[s] == 0) continue;
      done = false;
      --next[s];
      total = saturating_add(total, count(next, static_cast<int>(s), switches - cost(last, s)));
      ++next[s];
    }
    if (done) total = switches == 0 ? 1 : 0;
    return memo_[key] = total;
  }

  // Every completion, in lexicographic order, appended to `out`.
  void enumerate(std::vector<int>& remaining, int last, int switches, SessionOrder& prefix,
                 std::vector<SessionOrder>& out) {
    if (count(remaining, last, switches) == 0) return;
    bool done = true;
    for (std::size_t s = 0; s < remaining.size(); ++s) {
      if (remaining[s] == 0) continue;
      done = false;
      --remaining[s];
      prefix.push_back(static_cast<int>(s));
      enumerate(remaining, static_cast<int>(s), switches - cost(last, s), prefix, out);
      prefix.pop_back();
      ++remaining[s];
    }
    if (done) out.push_back(prefix);
  }

  // One completion drawn uniformly at random (exactly, while counts do not saturate).
  SessionOrder draw(std::vector<int> remaining, int switches, std::mt19937_64& rng) {
    SessionOrder order;
    int last = -1;
    while (true) {
      std::uint64_t pick = std::uniform_int_distribution<std::uint64_t>(0, count(remaining, last, switches) - 1)(rng);
      std::size_t chosen = remaining.size();
      for (std::size_t s = 0; s < remaining.size() && chosen == remaining.size(); ++s) {
        if (remaining[s] == 0) continue;
        --remaining[s];
        const std::uint64_t n = count(remaining, static_cast<int>(s), switches - cost(last, s));
        ++remaining[s];
        if (pick < n)
          chosen = s;
        else
          pick -= n;
      }
      if (chosen == remaining.size()) return order;  // nothing left
      --remaining[chosen];
      switches -= cost(last, chosen);
      last = static_cast<int>(chosen);
      order.push_back(last);
    }
  }

 private:
  static int cost(int last, std::size_t next) { return last >= 0 && last != static_cast<int>(next) ? 1 : 0; }
  std::map<std::tuple<std::vector<int>, int, int>, std::uint64_t> memo_;
};

// `wanted` distinct interleavings with exactly `switches` switches, drawn
// uniformly with `rng` from the `available` there are, sorted.
std::vector<SessionOrder> sample_level(SwitchTree& tree, const std::vector<int>& steps, int switches,
                                       std::uint64_t available, std::size_t wanted, std::mt19937_64& rng) {
  if (available / 4 <= wanted) {  // dense: enumerate, shuffle, keep a prefix
    std::vector<SessionOrder> all;
    std::vector<int> remaining = steps;
    SessionOrder prefix;
    tree.enumerate(remaining, -1, switches, prefix, all);
    std::shuffle(all.begin(), all.end(), rng);
    all.resize(wanted);
    std::sort(all.begin(), all.end());
    return all;
  }
  std::set<SessionOrder> sample;  // sparse: rejection of repeats is cheap
  while (sample.size() < wanted) sample.insert(tree.draw(steps, switches, rng));
  return {sample.begin(), sample.end()};
}

int total_steps(const std::vector<int>& steps_per_session) {
  return std::accumulate(steps_per_session.begin(), steps_per_session.end(), 0);
}

}  // namespace

int context_switches(const SessionOrder& order) {
  int switches = 0;
  for (std::size_t i = 1; i < order.size(); ++i) switches += order[i] != order[i - 1];
  return switches;
}

std::vector<std::uint64_t> count_by_switches(const std::vector<int>& steps_per_session) {
  SwitchTree tree;
  std::vector<std::uint64_t> counts;
  for (int k = 0; k < std::max(1, total_steps(steps_per_session)); ++k)
    counts.push_back(tree.count(steps_per_session, -1, k));
  return counts;
}

std::vector<SessionOrder> interleavings_by_switches(const std::vector<int>& steps_per_session, int max_switches,
                                                    std::size_t limit, std::uint64_t seed) {
  SwitchTree tree;
  std::mt19937_64 rng(seed);
  std::vector<SessionOrder> out;
  const int highest = std::min(max_switches, std::max(0, total_steps(steps_per_session) - 1));
  for (int k = 0; k <= highest && out.size() < limit; ++k) {
    const std::uint64_t available = tree.count(steps_per_session, -1, k);
    const std::size_t budget = limit - out.size();
    if (available > budget) {
      auto sample = sample_level(tree, steps_per_session, k, available, budget, rng);
      out.insert(out.end(), sample.begin(), sample.end());
      break;
    }
    std::vector<int> remaining = steps_per_session;
    SessionOrder prefix;
    tree.enumerate(remaining, -1, k, prefix, out);
  }
  return out;
}

std::uint64_t count_interleavings(const std::vector<int>& steps_per_session) {
  // Product of binomials C(n1+..+nk, nk), computed without overflow until it saturates.
  constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t total = 1;
  std::uint64_t placed = 0;
  for (int steps : steps_per_session) {
    std::uint64_t binomial = 1;  // C(placed + steps, steps)
    for (int i = 1; i <= steps; ++i) {
      const std::uint64_t numerator = placed + static_cast<std::uint64_t>(i);
      const std::uint64_t g = std::gcd(binomial, static_cast<std::uint64_t>(i));
      const std::uint64_t b = binomial / g, d = static_cast<std::uint64_t>(i) / g;
      const std::uint64_t factor = numerator / d;  // exact: the binomial stays integral
      if (b > kMax / factor) return kMax;
      binomial = b * factor;
    }
    if (binomial != 0 && total > kMax / binomial) return kMax;
    total *= binomial;
    placed += static_cast<std::uint64_t>(steps);
  }
  return total;
}

std::vector<SessionOrder> interleavings(const std::vector<int>& steps_per_session, std::size_t limit,
                                        std::uint64_t seed) {
  std::vector<SessionOrder> out;
  if (count_interleavings(steps_per_session) <= limit) {
    std::vector<int> remaining = steps_per_session;
    SessionOrder prefix;
    enumerate(remaining, prefix, out);
    return out;
  }
  SessionOrder deck;
  for (std::size_t s = 0; s < steps_per_session.size(); ++s)
    deck.insert(deck.end(), static_cast<std::size_t>(steps_per_session[s]), static_cast<int>(s));
  std::mt19937_64 rng(seed);
  std::set<SessionOrder> sample;
  while (sample.size() < limit) {
    std::shuffle(deck.begin(), deck.end(), rng);  // a uniformly random interleaving
    sample.insert(deck);
  }
  return {sample.begin(), sample.end()};
}

}  // namespace pgrace
