// The bank's transfer code under concurrency, as part of the team's
// GoogleTest suite: the scenario classes bank_pgrace runs, run here directly
// on a real PostgreSQL (one ephemeral server per test program, or the server
// named by $PGRACE_DSN).
//
// Invariant: however a customer's simultaneous payments interleave, no
// balance goes negative and no money appears or disappears.
//
// The first tests fire many payments at once and see what the timing gives;
// the last two (pgrace::testing::explore, as `bank_pgrace explore --workers
// 2`) run two payments statement by statement, in every order of their
// statements up to a number of context switches, the same orders every run.

#include <pgrace/gtest.hpp>

#include "transfer_scenarios.hpp"

using bank_scenarios::LockedTransfer;
using bank_scenarios::NaiveTransfer;

// The version that was shipped first overdraws. If this test fails, the
// scenario no longer reproduces the bug: it would not catch its return.
TEST(Transfer, NaiveVersionOverdraws) {
  EXPECT_PGRACE_VIOLATES(pgrace::testing::run<NaiveTransfer>(), {NaiveTransfer::kNoNegativeBalance});
}

TEST(Transfer, LockedVersionHolds) { EXPECT_PGRACE_HOLDS(pgrace::testing::run<LockedTransfer>()); }

// More payments per round and smaller amounts, five times on fresh state.
TEST(Transfer, LockedVersionHoldsUnderMoreLoad) {
  pgrace::RunSettings settings;
  settings.threads = 40;
  settings.repeat = 5;
  EXPECT_PGRACE_HOLDS(pgrace::testing::run<LockedTransfer>(settings, {"amount=5"}));
}

// Statement by statement: one payment of 10 on each of two workers, from a
// customer who has exactly 10 (-o balance=10), so one of them fits. The
// unchanged transfer_funds runs on both, and pgrace lets their statements
// through in every order with at most two context switches: in some of
// those orders both read 10 before either debits, and both are paid.
// The reproducer is the violating order with the fewest switches (one).
TEST(Transfer, NaiveVersionOverdrawsStatementByStatement) {
  pgrace::testing::ExploreSettings settings;
  settings.workers = 2;
  settings.max_switches = 2;
  EXPECT_PGRACE_VIOLATES(pgrace::testing::explore<NaiveTransfer>(settings, {"balance=10"}),
                         {NaiveTransfer::kNoNegativeBalance});
}

// The fix holds in every order up to three switches: whichever payment
// locks the payer's row second waits for the first to commit, then reads 0
// and is refused. Holds() also fails if the exploration stopped before
// trying every such order.
TEST(Transfer, LockedVersionHoldsInEveryOrderOfItsStatements) {
  pgrace::testing::ExploreSettings settings;
  settings.workers = 2;
  settings.max_switches = 3;
  EXPECT_PGRACE_HOLDS(pgrace::testing::explore<LockedTransfer>(settings, {"balance=10"}));
}
