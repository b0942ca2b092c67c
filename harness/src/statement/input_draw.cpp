#include "statement/input_draw.hpp"

namespace pgrace::detail {
namespace {

// SplitMix64's finalizer: neighbouring (seed, draw) pairs give unrelated seeds.
std::uint64_t mixed(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

bool draw_repeats_values(int draw) { return draw % 2 == 1; }

std::mt19937_64 draw_generator(std::uint64_t seed, int draw, int worker) {
  std::mt19937_64 generator;
  if (draw == 0) {
    std::seed_seq sequence{seed, static_cast<std::uint64_t>(worker), std::uint64_t{0}};
    generator.seed(sequence);
    return generator;
  }
  const std::uint64_t draw_seed = mixed(seed ^ mixed(static_cast<std::uint64_t>(draw)));
  const std::uint64_t stream = draw_repeats_values(draw) ? 0 : static_cast<std::uint64_t>(worker);
  std::seed_seq sequence{draw_seed, stream, std::uint64_t{1}};
  generator.seed(sequence);
  return generator;
}

}  // namespace pgrace::detail
