#include "statement/input_draw.hpp"

#include "util/hash.hpp"

namespace pgrace::detail {

DrawKind draw_kind(int draw) {
  if (draw == 0) return DrawKind::own;
  if (draw % 2 == 1) return DrawKind::same;
  return draw % 4 == 2 ? DrawKind::shifted : DrawKind::independent;
}

std::mt19937_64 draw_generator(std::uint64_t seed, int draw, int worker) {
  const auto seeded = [](std::uint64_t a, std::uint64_t b, std::uint64_t c) {
    std::seed_seq sequence{a, b, c};
    return std::mt19937_64(sequence);
  };
  const auto w = static_cast<std::uint64_t>(worker);
  const DrawKind kind = draw_kind(draw);
  if (kind == DrawKind::own) return seeded(seed, w, 0);
  const std::uint64_t draw_seed = splitmix64(seed ^ splitmix64(static_cast<std::uint64_t>(draw)));
  if (kind == DrawKind::independent) return seeded(draw_seed, w, 1);
  std::mt19937_64 generator = seeded(draw_seed, 0, 1);
  if (kind == DrawKind::shifted) generator.discard(w);
  return generator;
}

}  // namespace pgrace::detail
