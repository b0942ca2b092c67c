#include "pgrace/schedule.hpp"

#include <algorithm>
#include <limits>
#include <numeric>
#include <random>
#include <set>

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

}  // namespace

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
