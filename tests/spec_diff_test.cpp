// Unit tests of comparing a transcript with the isolation tester's expected
// output files (spec/diff.hpp); no server.
//
// What these tests check: a transcript matches when it equals any of the
// alternatives byte for byte (and which one is reported); otherwise the
// closest alternative (fewest differing lines, the first on ties) is named
// and the message is the unified diff `diff -U3` prints for it: hunks with
// three lines of context, merged when their context overlaps, ranges as diff
// writes them, a missing final newline marked. The expected diffs below are
// what GNU diff 3.8 -U3 prints for the same texts (labels aside).

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "pgrace/error.hpp"
#include "spec/diff.hpp"

namespace {

using namespace pgrace::spec;

std::string numbered(int from, int to) {
  std::string text;
  for (int i = from; i <= to; ++i) text += std::to_string(i) + "\n";
  return text;
}

TEST(SpecDiff, MatchesAnyAlternativeExactly) {
  const std::vector<Expected> alternatives{{"x.out", "a\nb\n"}, {"x_1.out", "a\nc\n"}};
  const Comparison first = compare_transcript("a\nb\n", alternatives);
  EXPECT_TRUE(first.matched);
  EXPECT_EQ(first.closest, 0u);
  EXPECT_EQ(first.diff, "");
  const Comparison second = compare_transcript("a\nc\n", alternatives);
  EXPECT_TRUE(second.matched);
  EXPECT_EQ(second.closest, 1u);
}

TEST(SpecDiff, WhitespaceCounts) {
  const Comparison c = compare_transcript("a \n", {{"x.out", "a\n"}});
  EXPECT_FALSE(c.matched);
  EXPECT_EQ(c.diff, "--- x.out\n+++ transcript\n@@ -1 +1 @@\n-a\n+a \n");
}

TEST(SpecDiff, DiffsAgainstTheClosestAlternative) {
  const std::string actual = numbered(1, 10);
  std::string far = actual, near = actual;
  far.replace(far.find("2\n"), 2, "two\n");
  far.replace(far.find("5\n"), 2, "five\n");
  near.replace(near.find("7\n"), 2, "seven\n");
  const Comparison c = compare_transcript(actual, {{"far.out", far}, {"near.out", near}, {"near_2.out", near}});
  EXPECT_FALSE(c.matched);
  EXPECT_EQ(c.closest, 1u);
  EXPECT_EQ(c.diff,
            "--- near.out\n+++ transcript\n"
            "@@ -4,7 +4,7 @@\n 4\n 5\n 6\n-seven\n+7\n 8\n 9\n 10\n");
}

TEST(SpecDiff, SeparateHunksAndMergedHunks) {
  const std::string before = numbered(1, 20);
  std::string after = before;
  after.replace(after.find("\n2\n") + 1, 2, "");  // line 2 removed
  after += "21\n";                                // a line added at the end
  EXPECT_EQ(unified_diff(before, after, "a", "b"),
            "--- a\n+++ b\n"
            "@@ -1,5 +1,4 @@\n 1\n-2\n 3\n 4\n 5\n"
            "@@ -18,3 +17,4 @@\n 18\n 19\n 20\n+21\n");
  std::string close = before;
  close.replace(close.find("\n3\n") + 1, 2, "three\n");
  close.replace(close.find("\n10\n") + 1, 3, "ten\n");  // 6 unchanged lines between: one hunk
  EXPECT_EQ(unified_diff(before, close, "a", "b"),
            "--- a\n+++ b\n"
            "@@ -1,13 +1,13 @@\n 1\n 2\n-3\n+three\n 4\n 5\n 6\n 7\n 8\n 9\n-10\n+ten\n 11\n 12\n 13\n");
  std::string apart = before;
  apart.replace(apart.find("\n3\n") + 1, 2, "three\n");
  apart.replace(apart.find("\n11\n") + 1, 3, "eleven\n");  // 7 unchanged lines between: two hunks
  EXPECT_EQ(unified_diff(before, apart, "a", "b"),
            "--- a\n+++ b\n"
            "@@ -1,6 +1,6 @@\n 1\n 2\n-3\n+three\n 4\n 5\n 6\n"
            "@@ -8,7 +8,7 @@\n 8\n 9\n 10\n-11\n+eleven\n 12\n 13\n 14\n");
}

TEST(SpecDiff, EmptySidesAndMissingFinalNewline) {
  EXPECT_EQ(unified_diff("", "a\n", "a", "b"), "--- a\n+++ b\n@@ -0,0 +1 @@\n+a\n");
  EXPECT_EQ(unified_diff("a\nb\n", "", "a", "b"), "--- a\n+++ b\n@@ -1,2 +0,0 @@\n-a\n-b\n");
  EXPECT_EQ(unified_diff("a\nb\n", "a\nb", "a", "b"),
            "--- a\n+++ b\n@@ -1,2 +1,2 @@\n a\n-b\n+b\n\\ No newline at end of file\n");
  EXPECT_EQ(unified_diff("same\n", "same\n", "a", "b"), "");
}

TEST(SpecDiff, LoadNamesAnUnreadableFile) {
  try {
    load_expected("/nonexistent/x.out");
    FAIL() << "loaded";
  } catch (const pgrace::Error& e) {
    EXPECT_EQ(e.code(), pgrace::ExitCode::usage);
    EXPECT_EQ(std::string(e.what()),
              "/nonexistent/x.out: cannot open the expected output file: No such file or directory; check the path");
  }
}

}  // namespace
