#pragma once
// Schedules for interleave mode: orders of the sessions' steps that keep each
// session's own order. Pure logic, no database.

#include <cstdint>
#include <vector>

namespace pgrace {

// A schedule as session indices: {0, 1, 0} is "session 0's next step,
// session 1's next step, session 0's next step".
using SessionOrder = std::vector<int>;

// The number of interleavings of sessions with `steps_per_session` steps
// (the multinomial coefficient), saturating at UINT64_MAX.
std::uint64_t count_interleavings(const std::vector<int>& steps_per_session);

// Every interleaving, in lexicographic order of session indices, if there are
// at most `limit`; otherwise `limit` distinct ones drawn at random with `seed`
// (the same seed gives the same sample), sorted lexicographically.
std::vector<SessionOrder> interleavings(const std::vector<int>& steps_per_session, std::size_t limit,
                                        std::uint64_t seed);

// The number of context switches in `order`: adjacent places that belong to
// different sessions. {0, 0, 1, 1} has one, {0, 1, 0, 1} three.
int context_switches(const SessionOrder& order);

// How many interleavings have exactly k context switches, for k = 0, 1, ...
// up to the largest possible; each count saturates at UINT64_MAX. The
// counts add up to count_interleavings().
std::vector<std::uint64_t> count_by_switches(const std::vector<int>& steps_per_session);

// Interleavings in order of their number of context switches, fewest first
// (as CHESS bounds preemptions: most concurrency bugs need very few), with
// at most `max_switches` switches and at most `limit` in all. Within one
// switch count the order is lexicographic. When a switch count holds more
// interleavings than the budget has left, a sample of that many is drawn
// uniformly at random with `seed` (sorted lexicographically) and the
// enumeration stops there.
std::vector<SessionOrder> interleavings_by_switches(const std::vector<int>& steps_per_session, int max_switches,
                                                    std::size_t limit, std::uint64_t seed);

}  // namespace pgrace
