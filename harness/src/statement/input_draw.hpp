#pragma once
// The input draws of a statement-level exploration: which parameters each
// worker's w.rng() gives in draw k of a run seeded with --seed. Internal to
// pgrace.

#include <cstdint>
#include <random>

namespace pgrace::detail {

// How the workers' sequences of a draw relate. Most races need two
// requests that collide (the same account, the same name, amounts that
// together exceed a balance), which independent sequences rarely give:
//   own          draw 0: the seed's own sequences, one per worker, as
//                before draws existed
//   same         odd draws: every worker the same sequence, so that they
//                draw the same values
//   shifted      draws 2, 6, 10, ...: one sequence, worker w's starting at
//                w-th value, so that a worker's first random number is the
//                previous worker's second (with two values drawn from one
//                range, a transfer from the account another transfers to:
//                the opposite lock orders)
//   independent  draws 4, 8, 12, ...: each worker its own sequence, anew
enum class DrawKind { own, same, shifted, independent };

DrawKind draw_kind(int draw);

// Worker `worker`'s generator (from 0) in input draw `draw` of a run seeded
// with `seed` (see DrawKind).
std::mt19937_64 draw_generator(std::uint64_t seed, int draw, int worker);

}  // namespace pgrace::detail
