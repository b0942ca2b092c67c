#pragma once
// Seeds of a run's random parameters (RunSettings::seed): drawn, or given
// by the user on the command line or in the environment.

#include <cstdint>
#include <string>

namespace pgrace {

// A random seed below 2^53, so that it survives tools that read JSON
// numbers as doubles (JavaScript, jq 1.6). Thread-safe.
std::uint64_t random_seed();

// `text` as a seed: a whole number from 0 to 2^64-1, digits only. Throws
// pgrace::Error (usage) for anything else (-1, 2^64, "x"), naming `source`
// (e.g. "--seed", "PGRACE_SEED") as where the value came from.
std::uint64_t parse_seed(const std::string& text, const std::string& source);

}  // namespace pgrace
