// Unit tests of interleave mode's schedule arithmetic (pgrace/schedule.hpp);
// no server.
//
// What these tests check: count_interleavings() is the multinomial
// coefficient (n1+..+nk)! / (n1! .. nk!), exact up to UINT64_MAX and
// saturating at it beyond; interleavings() with a limit at least that count
// enumerates every interleaving exactly once, each keeping every session's
// step count, in lexicographic order of session indices; with a smaller limit
// it returns exactly `limit` distinct valid interleavings, sorted, determined
// by the seed alone. interleavings_by_switches() yields every interleaving
// once, fewest context switches first, in the numbers count_by_switches()
// gives, bounded by a switch count and a budget whose last level is sampled
// by the seed.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <set>
#include <vector>

#include "pgrace/schedule.hpp"

namespace {

using pgrace::count_interleavings;
using pgrace::interleavings;
using pgrace::SessionOrder;

constexpr std::uint64_t kSaturated = std::numeric_limits<std::uint64_t>::max();

// True when `order` has exactly steps[s] entries equal to s for every session s.
bool keeps_counts(const SessionOrder& order, const std::vector<int>& steps) {
  std::vector<int> seen(steps.size(), 0);
  for (int s : order) {
    if (s < 0 || static_cast<std::size_t>(s) >= steps.size()) return false;
    ++seen[static_cast<std::size_t>(s)];
  }
  return seen == steps;
}

// Reference: every interleaving, by std::next_permutation over the sorted deck
// (which visits permutations of a multiset in lexicographic order).
std::vector<SessionOrder> reference_interleavings(const std::vector<int>& steps) {
  SessionOrder deck;
  for (std::size_t s = 0; s < steps.size(); ++s) deck.insert(deck.end(), steps[s], static_cast<int>(s));
  std::vector<SessionOrder> all;
  do all.push_back(deck);
  while (std::next_permutation(deck.begin(), deck.end()));
  return all;
}

TEST(ScheduleCount, SmallCasesAreTheMultinomialCoefficient) {
  EXPECT_EQ(count_interleavings({3, 3}), 20u);
  EXPECT_EQ(count_interleavings({4, 4}), 70u);
  EXPECT_EQ(count_interleavings({2, 2, 2}), 90u);
  EXPECT_EQ(count_interleavings({}), 1u);
  EXPECT_EQ(count_interleavings({5}), 1u);
  EXPECT_EQ(count_interleavings({1, 1, 1, 1}), 24u);
  EXPECT_EQ(count_interleavings({2, 1, 3}), 60u);  // 6! / (2! 1! 3!)
  EXPECT_EQ(count_interleavings({0, 4}), 1u);
  EXPECT_EQ(count_interleavings({3, 0, 3}), 20u);
}

TEST(ScheduleCount, AgreesWithEnumerationByNextPermutation) {
  for (const std::vector<int>& steps : std::vector<std::vector<int>>{
           {1, 2}, {2, 3}, {3, 3}, {4, 4}, {2, 2, 2}, {1, 2, 3}, {1, 1, 1, 1}, {3, 1, 1}, {2, 2, 1, 1}}) {
    EXPECT_EQ(count_interleavings(steps), reference_interleavings(steps).size()) << ::testing::PrintToString(steps);
  }
}

TEST(ScheduleCount, IsExactForLargeCountsAndSaturatesBeyondTheRange) {
  EXPECT_EQ(count_interleavings({20, 20}), 137846528820ull);                        // C(40, 20)
  EXPECT_EQ(count_interleavings({10, 10, 10}), 5550996791340ull);                   // 30! / (10!)^3
  EXPECT_EQ(count_interleavings(std::vector<int>(20, 1)), 2432902008176640000ull);  // 20!, just below 2^64
  // Beyond 2^64 - 1: C(68, 34) and 21! overflow, so they saturate.
  EXPECT_EQ(count_interleavings({34, 34}), kSaturated);
  EXPECT_EQ(count_interleavings(std::vector<int>(21, 1)), kSaturated);
  EXPECT_EQ(count_interleavings({60, 60, 60}), kSaturated);
  EXPECT_EQ(count_interleavings({1000, 1000}), kSaturated);
}

// schedule.hpp promises the multinomial coefficient "saturating at
// UINT64_MAX", i.e. exact whenever it fits, also when an intermediate
// product would not: {23, 46} (C(69, 23) = 1.2e18) and {32, 32} (C(64, 32)
// = 1.8e18) once saturated early.
TEST(ScheduleCount, IsExactJustBelowTheTopOfTheRange) {
  EXPECT_EQ(count_interleavings({23, 46}), 1202936975833188960ull);   // C(69, 23)
  EXPECT_EQ(count_interleavings({32, 32}), 1832624140942590534ull);   // C(64, 32)
  EXPECT_EQ(count_interleavings({33, 33}), 7219428434016265740ull);   // C(66, 33)
  EXPECT_EQ(count_interleavings({33, 34}), 14226520737620288370ull);  // C(67, 33)
}

TEST(ScheduleEnumeration, WithEnoughRoomListsEveryInterleavingOnceInLexicographicOrder) {
  for (const std::vector<int>& steps :
       std::vector<std::vector<int>>{{3, 3}, {4, 4}, {2, 2, 2}, {1, 1, 1, 1}, {2, 1, 3}, {5}, {}}) {
    SCOPED_TRACE(::testing::PrintToString(steps));
    const std::uint64_t count = count_interleavings(steps);
    for (std::size_t limit :
         {static_cast<std::size_t>(count), static_cast<std::size_t>(count) + 1, std::size_t{100000}}) {
      const auto all = interleavings(steps, limit, /*seed=*/42);
      ASSERT_EQ(all.size(), count) << "limit " << limit;
      EXPECT_EQ(std::set<SessionOrder>(all.begin(), all.end()).size(), count) << "duplicates";
      for (const auto& order : all) EXPECT_TRUE(keeps_counts(order, steps)) << ::testing::PrintToString(order);
      EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
      EXPECT_EQ(all, reference_interleavings(steps));
    }
  }
}

TEST(ScheduleEnumeration, ThreeAndThreeRunsFromAllOfSessionZeroFirstToAllOfSessionOneFirst) {
  const auto all = interleavings({3, 3}, 20, 0);
  ASSERT_EQ(all.size(), 20u);
  EXPECT_EQ(all.front(), (SessionOrder{0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(all[1], (SessionOrder{0, 0, 1, 0, 1, 1}));
  EXPECT_EQ(all.back(), (SessionOrder{1, 1, 1, 0, 0, 0}));
}

TEST(ScheduleEnumeration, EnumerationDoesNotDependOnTheSeed) {
  EXPECT_EQ(interleavings({2, 2, 2}, 1000, 1), interleavings({2, 2, 2}, 1000, 99));
}

TEST(ScheduleSampling, ReturnsExactlyLimitDistinctValidSortedOrders) {
  for (const auto& [steps, limit] : std::vector<std::pair<std::vector<int>, std::size_t>>{
           {{3, 3}, 5}, {{3, 3}, 19}, {{4, 4}, 10}, {{2, 2, 2}, 89}, {{5, 5, 5}, 50}, {{60, 60, 60}, 7}}) {
    SCOPED_TRACE(::testing::PrintToString(steps) + " limit " + std::to_string(limit));
    ASSERT_GT(count_interleavings(steps), limit);
    const auto sample = interleavings(steps, limit, 7);
    ASSERT_EQ(sample.size(), limit);
    EXPECT_EQ(std::set<SessionOrder>(sample.begin(), sample.end()).size(), limit) << "duplicates";
    EXPECT_TRUE(std::is_sorted(sample.begin(), sample.end()));
    for (const auto& order : sample) EXPECT_TRUE(keeps_counts(order, steps)) << ::testing::PrintToString(order);
  }
}

TEST(ScheduleSampling, TheSameSeedGivesTheSameSampleAnotherSeedAnotherOne) {
  EXPECT_EQ(interleavings({4, 4}, 10, 7), interleavings({4, 4}, 10, 7));
  EXPECT_EQ(interleavings({5, 5, 5}, 20, 123), interleavings({5, 5, 5}, 20, 123));
  // 20 of 756756 orders: two seeds drawing the same 20 is (nearly) impossible.
  EXPECT_NE(interleavings({5, 5, 5}, 20, 1), interleavings({5, 5, 5}, 20, 2));
  EXPECT_NE(interleavings({4, 4}, 10, 7), interleavings({4, 4}, 10, 8));
}

TEST(ScheduleSampling, SamplesReachEveryInterleavingAcrossSeeds) {
  // A sampler stuck on part of the space (say, never putting session 1
  // first) would leave some of the 20 orders of {3, 3} out of 200 samples of 5.
  std::set<SessionOrder> reached;
  for (std::uint64_t seed = 0; seed < 200; ++seed)
    for (const auto& order : interleavings({3, 3}, 5, seed)) reached.insert(order);
  EXPECT_EQ(reached.size(), 20u);
}

}  // namespace

// Ordering by context switches (CHESS-style bounding): every interleaving
// appears exactly once across the switch counts, the counts agree with the
// enumeration, and the order never goes back to fewer switches.
class BySwitches : public ::testing::TestWithParam<std::vector<int>> {};

TEST_P(BySwitches, CountsAddUpToAllInterleavingsAndMatchTheEnumeration) {
  const auto steps = GetParam();
  const auto counts = pgrace::count_by_switches(steps);
  std::uint64_t sum = 0;
  for (auto c : counts) sum += c;
  EXPECT_EQ(sum, count_interleavings(steps));

  const auto all = pgrace::interleavings_by_switches(steps, 1000, 1'000'000, 1);
  ASSERT_EQ(all.size(), count_interleavings(steps));
  EXPECT_EQ(std::set<SessionOrder>(all.begin(), all.end()).size(), all.size());
  std::vector<std::uint64_t> seen(counts.size(), 0);
  int previous = 0;
  for (const auto& order : all) {
    EXPECT_TRUE(keeps_counts(order, steps));
    const int k = pgrace::context_switches(order);
    EXPECT_GE(k, previous) << "fewest switches first";
    previous = k;
    ++seen.at(static_cast<std::size_t>(k));
  }
  EXPECT_EQ(seen, counts);
}

INSTANTIATE_TEST_SUITE_P(Shapes, BySwitches,
                         ::testing::Values(std::vector<int>{3, 3}, std::vector<int>{2, 2, 2}, std::vector<int>{4, 1, 3},
                                           std::vector<int>{5}, std::vector<int>{3, 3, 3, 2},
                                           std::vector<int>{0, 2, 2}));

TEST(BySwitchesOrder, TwoSessionsOfThreeStepsStartWithTheSerialThenOneInterruption) {
  // 20 interleavings: 2 with one switch (serial), 4 with two, 8 with three, 4 with four, 2 with five.
  EXPECT_EQ(pgrace::count_by_switches({3, 3}), (std::vector<std::uint64_t>{0, 2, 4, 8, 4, 2}));
  const auto first = pgrace::interleavings_by_switches({3, 3}, 2, 100, 1);
  ASSERT_EQ(first.size(), 6u);
  EXPECT_EQ(first[0], (SessionOrder{0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(first[1], (SessionOrder{1, 1, 1, 0, 0, 0}));
  // Then the four with one interruption, lexicographically.
  EXPECT_EQ(first[2], (SessionOrder{0, 0, 1, 1, 1, 0}));
  EXPECT_EQ(first[3], (SessionOrder{0, 1, 1, 1, 0, 0}));
  EXPECT_EQ(first[4], (SessionOrder{1, 0, 0, 0, 1, 1}));
  EXPECT_EQ(first[5], (SessionOrder{1, 1, 0, 0, 0, 1}));
  EXPECT_EQ(pgrace::context_switches({0, 1, 0, 1}), 3);
  EXPECT_EQ(pgrace::context_switches({}), 0);
}

TEST(BySwitchesOrder, BoundAndBudgetLimitTheSearchAndSampleTheLastLevelBySeed) {
  const std::vector<int> steps = {4, 4, 4};  // 34650 interleavings
  const auto bounded = pgrace::interleavings_by_switches(steps, 3, 1'000'000, 1);
  std::uint64_t expected = 0;
  const auto counts = pgrace::count_by_switches(steps);
  for (int k = 0; k <= 3; ++k) expected += counts[static_cast<std::size_t>(k)];
  EXPECT_EQ(bounded.size(), expected);
  for (const auto& order : bounded) EXPECT_LE(pgrace::context_switches(order), 3);

  const auto sampled = pgrace::interleavings_by_switches(steps, 100, 500, 7);
  ASSERT_EQ(sampled.size(), 500u);
  EXPECT_EQ(std::set<SessionOrder>(sampled.begin(), sampled.end()).size(), 500u);
  EXPECT_EQ(sampled, pgrace::interleavings_by_switches(steps, 100, 500, 7));
  EXPECT_NE(sampled, pgrace::interleavings_by_switches(steps, 100, 500, 8));
  int previous = 0;
  for (const auto& order : sampled) {
    EXPECT_TRUE(keeps_counts(order, steps));
    EXPECT_GE(pgrace::context_switches(order), previous);
    previous = pgrace::context_switches(order);
  }
}
