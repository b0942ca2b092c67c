#include "statement/input_draw.hpp"

#include "util/hash.hpp"

namespace pgrace::detail {

bool draw_repeats_values(int draw) { return draw % 2 == 1; }

std::mt19937_64 draw_generator(std::uint64_t seed, int draw, int worker) {
  std::mt19937_64 generator;
  if (draw == 0) {
    std::seed_seq sequence{seed, static_cast<std::uint64_t>(worker), std::uint64_t{0}};
    generator.seed(sequence);
    return generator;
  }
  const std::uint64_t draw_seed = splitmix64(seed ^ splitmix64(static_cast<std::uint64_t>(draw)));
  const std::uint64_t stream = draw_repeats_values(draw) ? 0 : static_cast<std::uint64_t>(worker);
  std::seed_seq sequence{draw_seed, stream, std::uint64_t{1}};
  generator.seed(sequence);
  return generator;
}

}  // namespace pgrace::detail
