#pragma once
// The input draws of a statement-level exploration: which parameters each
// worker's w.rng() gives in draw k of a run seeded with --seed. Internal to
// pgrace.

#include <cstdint>
#include <random>

namespace pgrace::detail {

// Worker `worker`'s generator (from 0) in input draw `draw` of a run seeded
// with `seed`. Draw 0 is what the seed gave before draws existed (each
// worker its own sequence). Odd draws give every worker the same sequence,
// so that they draw the same accounts, names and amounts: the collisions
// most races need, which independent draws find rarely. Even draws past 0
// are independent again, each from its own seed.
std::mt19937_64 draw_generator(std::uint64_t seed, int draw, int worker);

// Whether draw `draw` gives every worker the same sequence (see above).
bool draw_repeats_values(int draw);

}  // namespace pgrace::detail
