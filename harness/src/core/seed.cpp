#include "pgrace/seed.hpp"

#include <charconv>
#include <random>

#include "pgrace/error.hpp"

namespace pgrace {

std::uint64_t random_seed() {
  std::random_device random;
  const std::uint64_t bits = (static_cast<std::uint64_t>(random()) << 32) ^ random();
  return bits & ((std::uint64_t{1} << 53) - 1);
}

std::uint64_t parse_seed(const std::string& text, const std::string& source) {
  std::uint64_t seed = 0;
  const char* end = text.data() + text.size();
  const auto [at, error] = std::from_chars(text.data(), end, seed);
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || error != std::errc() || at != end)
    throw usage_error(source + " must be a whole number from 0 to 18446744073709551615, got '" + text + "'");
  return seed;
}

}  // namespace pgrace
