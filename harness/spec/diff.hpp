#pragma once
// Checking a spec's transcript against the isolation tester's expected
// output: expected/NAME.out and its alternatives NAME_1.out, NAME_2.out, ...
// The transcript matches when it equals one of them byte for byte (as
// pg_regress compares on POSIX systems); otherwise the report is a unified
// diff against the closest one. Internal to pgrace; pure logic.

#include <cstddef>
#include <string>
#include <vector>

namespace pgrace::spec {

// An expected transcript and the name to show for it (its path).
struct Expected {
  std::string name;
  std::string text;
};

// Reads the expected output file at `path`. Throws pgrace::Error (usage)
// naming the file when it cannot be read or is no regular file (see
// read_input_file in spec.hpp).
Expected load_expected(const std::string& path);

struct Comparison {
  bool matched = false;
  std::size_t closest = 0;  // the alternative matched, or the one with the fewest differing lines (first on ties)
  std::string diff;         // empty when matched; else the unified diff from that alternative to the transcript
};

// Compares `transcript` with each of `alternatives` (at least one).
Comparison compare_transcript(const std::string& transcript, const std::vector<Expected>& alternatives);

// A unified diff (3 lines of context, as `diff -U3`) from `before` to
// `after`, headed `--- before_label` and `+++ after_label`; empty when the
// texts are equal. A last line without a newline is marked as diff marks it.
std::string unified_diff(const std::string& before, const std::string& after, const std::string& before_label,
                         const std::string& after_label);

}  // namespace pgrace::spec
