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

}  // namespace pgrace
