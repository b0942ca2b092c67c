// The bank's transfer code under concurrency, as part of the team's
// GoogleTest suite: the scenario classes bank_pgrace runs, run here directly
// on a real PostgreSQL (one ephemeral server per test program, or the server
// named by $PGRACE_DSN).
//
// Invariant: however a customer's simultaneous payments interleave, no
// balance goes negative and no money appears or disappears.

#include <pgrace/gtest.hpp>

#include "transfer_scenarios.hpp"

using bank_scenarios::LockedTransfer;
using bank_scenarios::NaiveTransfer;

// The version that was shipped first overdraws. If this test fails, the
// scenario no longer reproduces the bug: it would not catch its return.
TEST(Transfer, NaiveVersionOverdraws) {
  EXPECT_PGRACE_VIOLATES(pgrace::testing::run<NaiveTransfer>(), {NaiveTransfer::kNoNegativeBalance});
}

TEST(Transfer, LockedVersionHolds) {
  EXPECT_PGRACE_HOLDS(pgrace::testing::run<LockedTransfer>());
}

// More payments per round and smaller amounts, five times on fresh state.
TEST(Transfer, LockedVersionHoldsUnderMoreLoad) {
  pgrace::RunSettings settings;
  settings.threads = 40;
  settings.repeat = 5;
  EXPECT_PGRACE_HOLDS(pgrace::testing::run<LockedTransfer>(settings, {"amount=5"}));
}
