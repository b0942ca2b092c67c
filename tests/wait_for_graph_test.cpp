// Unit tests of the wait-for graph that decides, without waiting for a
// timeout, that a step waiting for a lock can never be released in its
// schedule (pure logic, no database). The server-side half (the graph read
// from pg_blocking_pids) is exercised by interleave_test.cpp's infeasible
// schedules and the three-worker job queue.

#include <gtest/gtest.h>

#include <vector>

#include "steps/wait_for_graph.hpp"

namespace {

using pgrace::detail::SessionWaits;
using pgrace::detail::step_prospect;
using pgrace::detail::StepProspect;

SessionWaits idle() { return {}; }
SessionWaits running() { return {true, {}, false}; }
SessionWaits waiting_for(std::vector<std::size_t> blockers) { return {true, std::move(blockers), false}; }

TEST(WaitForGraph, ABusySessionThatWaitsForNobodyIsRunning) {
  EXPECT_EQ(step_prospect({running(), idle()}, 0), StepProspect::running);
  EXPECT_EQ(step_prospect({idle(), idle()}, 0), StepProspect::running);  // done: nothing to wait for
}

TEST(WaitForGraph, WaitingOnlyForAnIdleSessionIsStuck) {
  EXPECT_EQ(step_prospect({waiting_for({1}), idle()}, 0), StepProspect::stuck);
}

TEST(WaitForGraph, TwoSessionsQueuedBehindAThirdIdleOneAreBothStuck) {
  // The job queue's stall: w2 and w3 wait for w1's row lock (w3 also behind
  // w2 in the lock queue) while w1 is idle in its transaction.
  const std::vector<SessionWaits> sessions = {idle(), waiting_for({0}), waiting_for({0, 1})};
  EXPECT_EQ(step_prospect(sessions, 1), StepProspect::stuck);
  EXPECT_EQ(step_prospect(sessions, 2), StepProspect::stuck);
}

TEST(WaitForGraph, WaitingForARunningSessionMayEnd) {
  EXPECT_EQ(step_prospect({waiting_for({1}), running()}, 0), StepProspect::may_end);
  // ... also through a chain of waiting sessions.
  EXPECT_EQ(step_prospect({waiting_for({1}), waiting_for({2}), running()}, 0), StepProspect::may_end);
  // ... and when every one of several blockers can move.
  EXPECT_EQ(step_prospect({waiting_for({1, 2}), running(), SessionWaits{true, {}, true}}, 0), StepProspect::may_end);
}

TEST(WaitForGraph, OneIdleBlockerAmongSeveralIsEnoughToBeStuck) {
  // Two holders of a share lock, one running and one idle: the lock is
  // granted only when both let go.
  EXPECT_EQ(step_prospect({waiting_for({1, 2}), idle(), running()}, 0), StepProspect::stuck);
  // An idle session and a backend outside the schedule.
  EXPECT_EQ(step_prospect({SessionWaits{true, {1}, true}, idle()}, 0), StepProspect::stuck);
  // Behind a session that is itself stuck behind an idle one, while another blocker runs.
  EXPECT_EQ(step_prospect({waiting_for({1, 3}), waiting_for({2}), idle(), running()}, 0), StepProspect::stuck);
}

TEST(WaitForGraph, ADeadlockMayEndSinceTheServerBreaksIt) {
  EXPECT_EQ(step_prospect({waiting_for({1}), waiting_for({0})}, 0), StepProspect::may_end);
  EXPECT_EQ(step_prospect({waiting_for({1}), waiting_for({2}), waiting_for({1})}, 0), StepProspect::may_end);
  // Even with an idle blocker on the side: the detector may end this very wait.
  EXPECT_EQ(step_prospect({waiting_for({1, 2}), waiting_for({0}), idle()}, 0), StepProspect::may_end);
}

TEST(WaitForGraph, WaitingForABackendOutsideTheScheduleMayEnd) {
  EXPECT_EQ(step_prospect({SessionWaits{true, {}, true}}, 0), StepProspect::may_end);
  EXPECT_EQ(step_prospect({waiting_for({1}), SessionWaits{true, {}, true}}, 0), StepProspect::may_end);
}

TEST(WaitForGraph, ADiamondOfWaitsOnIdleSessionsIsStuck) {
  // 0 waits for 1 and 2, both wait for 3 (idle): visited twice, still stuck.
  const std::vector<SessionWaits> sessions = {waiting_for({1, 2}), waiting_for({3}), waiting_for({3}), idle()};
  EXPECT_EQ(step_prospect(sessions, 0), StepProspect::stuck);
}

}  // namespace
