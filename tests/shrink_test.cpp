// Unit tests of shrinking a violating schedule (pure logic, no database):
// the "oracle" stands for running a candidate schedule and checking the
// invariant, as the interleave runner does on a real server.

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "steps/shrink.hpp"

namespace {

using pgrace::detail::Plan;
using pgrace::detail::PlannedStep;
using pgrace::detail::shrink_plan;
using pgrace::detail::ShrinkChange;

// A plan from "session,step" pairs written as {s, i}.
Plan plan(std::vector<std::pair<std::size_t, std::size_t>> steps) {
  Plan out;
  for (auto [s, i] : steps) out.push_back({s, i});
  return out;
}

bool has(const Plan& p, std::size_t session, std::size_t step) {
  return std::find(p.begin(), p.end(), PlannedStep{session, step}) != p.end();
}

// Lost update between sessions 0 and 1 (read 0, write 1, commit 2 each):
// violated when both read before the other commits, and both commit.
bool lost_update(const Plan& p) {
  auto at = [&](std::size_t s, std::size_t i) {
    auto it = std::find(p.begin(), p.end(), PlannedStep{s, i});
    return it == p.end() ? -1 : static_cast<int>(it - p.begin());
  };
  if (at(0, 2) < 0 || at(1, 2) < 0 || at(0, 0) < 0 || at(1, 0) < 0 || at(0, 1) < 0 || at(1, 1) < 0) return false;
  return at(0, 0) < at(1, 2) && at(1, 0) < at(0, 2);
}

TEST(Shrink, RemovesASessionTheViolationDoesNotNeed) {
  // Session 2 runs in the middle; the lost update is between 0 and 1.
  const Plan original = plan({{0, 0}, {2, 0}, {1, 0}, {2, 1}, {0, 1}, {0, 2}, {2, 2}, {1, 1}, {1, 2}});
  ASSERT_TRUE(lost_update(original));
  const auto out = shrink_plan(original, lost_update, 200);
  EXPECT_TRUE(lost_update(out.plan));
  for (const auto& step : out.plan) EXPECT_NE(step.session, 2u);
  ASSERT_FALSE(out.changes.empty());
  EXPECT_EQ(out.changes.front().kind, ShrinkChange::Kind::session_removed);
  EXPECT_EQ(out.changes.front().session, 2u);
}

TEST(Shrink, DropsTrailingStepsOnlyWhileTheViolationRemains) {
  // Violated as soon as session 0 ran step 0 and session 1 ran step 0:
  // everything after is noise.
  auto both_read = [](const Plan& p) { return has(p, 0, 0) && has(p, 1, 0); };
  const Plan original = plan({{0, 0}, {1, 0}, {0, 1}, {1, 1}, {0, 2}, {1, 2}});
  const auto out = shrink_plan(original, both_read, 200);
  EXPECT_EQ(out.plan, plan({{0, 0}, {1, 0}}));
  int dropped = 0;
  for (const auto& c : out.changes) dropped += c.kind == ShrinkChange::Kind::steps_dropped;
  EXPECT_EQ(dropped, 2);
  // The lost update needs both commits: nothing can be dropped.
  const Plan needed = plan({{0, 0}, {1, 0}, {0, 1}, {0, 2}, {1, 1}, {1, 2}});
  EXPECT_EQ(shrink_plan(needed, lost_update, 200).plan.size(), 6u);
}

TEST(Shrink, ReordersToTheFewestSwitchesThatStillViolate) {
  const Plan original = plan({{0, 0}, {1, 0}, {0, 1}, {1, 1}, {0, 2}, {1, 2}});  // 5 switches
  const auto out = shrink_plan(original, lost_update, 200);
  EXPECT_TRUE(lost_update(out.plan));
  EXPECT_EQ(pgrace::detail::plan_switches(out.plan), 2);  // r0 r1 w1 c1 w0 c0 needs 2; fewer cannot lose
  ASSERT_FALSE(out.changes.empty());
  EXPECT_EQ(out.changes.back().kind, ShrinkChange::Kind::reordered);
  EXPECT_EQ(out.changes.back().switches_before, 5);
  EXPECT_EQ(out.changes.back().switches_after, 2);
}

TEST(Shrink, KeepsTheOriginalWhenNothingSmallerViolates) {
  const Plan original = plan({{0, 0}, {1, 0}, {1, 1}, {1, 2}, {0, 1}, {0, 2}});  // already 2 switches
  const auto out = shrink_plan(original, lost_update, 200);
  EXPECT_EQ(out.plan, original);
  EXPECT_TRUE(out.changes.empty());
  EXPECT_GT(out.attempts, 0);
}

TEST(Shrink, StopsAtTheAttemptLimit) {
  int calls = 0;
  auto never = [&](const Plan&) { return ++calls, false; };
  const Plan original = plan({{0, 0}, {1, 0}, {2, 0}, {0, 1}, {1, 1}, {2, 1}});
  const auto out = shrink_plan(original, never, 4);
  EXPECT_EQ(out.attempts, 4);
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(out.plan, original);
}

TEST(Shrink, NeverTriesAnEmptyPlan) {
  auto always = [](const Plan& p) { return !p.empty(); };
  const auto out = shrink_plan(plan({{0, 0}, {1, 0}}), always, 200);
  EXPECT_EQ(out.plan.size(), 1u);
}

}  // namespace
