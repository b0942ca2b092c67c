#pragma once
// GoogleTest integration: a pgrace scenario as one TEST of a team's own
// GoogleTest suite. Link the test program with pgrace::gtest.
//
//   #include <pgrace/gtest.hpp>
//
//   TEST(Transfer, NaiveVersionLosesMoney) {
//     auto result = pgrace::testing::run<NaiveTransfer>();
//     EXPECT_PGRACE_VIOLATES(result, {"total balance is conserved"});
//   }
//
//   TEST(Transfer, LockedVersionHolds) {
//     pgrace::RunSettings settings;
//     settings.threads = 16;
//     settings.repeat = 5;
//     EXPECT_PGRACE_HOLDS(pgrace::testing::run<LockedTransfer>(settings, {"accounts=8"}));
//   }
//
//   // Two workers, each running transaction() once, in every order of their
//   // statements with at most 3 context switches (pgrace explore --workers 2).
//   TEST(Transfer, LockedVersionHoldsInEveryOrder) {
//     pgrace::testing::ExploreSettings settings;
//     settings.max_switches = 3;
//     EXPECT_PGRACE_HOLDS(pgrace::testing::explore<LockedTransfer>(settings, {"balance=10"}));
//   }
//
// The server: one per test program, shared by its tests. It is the server
// named by $PGRACE_DSN (then $DATABASE_URL), else an ephemeral PostgreSQL
// that pgrace starts at the first scenario run and removes when the program
// ends (a global test environment). Each scenario run gets its own database.
//
// No PostgreSQL: when the ephemeral server cannot be started because no
// PostgreSQL server is installed, run() marks the test as skipped with a
// message saying so, and the assertions below pass. Set
// PGRACE_REQUIRE_SERVER=1 (as CI should) to make that a test failure instead.
// Any other server problem (a bad DSN, a lost server) fails the test.
// A test that also checks the result's fields itself (outcome counts, ...)
// should return first when ::testing::Test::IsSkipped(): a failed EXPECT
// after a skip makes the test fail.
//
// Seeds: a run uses $PGRACE_SEED if set, else `settings.seed` if it is not
// 0, else a random seed. The seed, the verdict and the scenario's name are
// recorded as test properties (they appear in --gtest_output=xml), and every
// assertion failure prints the command line that repeats the run:
//   PGRACE_SEED=<seed> <test program> --gtest_filter=<Suite>.<Test>
//
// Timeline pages: a failed assertion on a result that ran also writes the
// result's HTML timeline page (pgrace/report.hpp's to_html(), as `pgrace run
// --html` does) and names it in the failure message ("timeline: PATH"):
// <Suite>.<Test>.<scenario>.html in the directory $PGRACE_HTML_DIR, else in
// GoogleTest's temporary directory (::testing::TempDir()).
//
// Thread safety: call run() and explore() from the test's own thread (GoogleTest runs
// tests one after another); the scenario's workers are pgrace's business.

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "pgrace/runner.hpp"
#include "pgrace/scenario.hpp"

namespace pgrace::testing {

// Runs the scenario made by `definition` (its info() and its factory) with
// `settings` (threads, iterations, isolation, repeat, ...: unset fields keep
// the scenario's defaults) and scenario options `options` ("key=value", as
// `pgrace run -o`). An option the scenario does not read fails the test.
// Returns the judged result; never throws for a scenario's own errors
// (verdict "error"). When the test was skipped (see above) the result has
// verdict "error" and the assertions below pass.
ScenarioResult run(const ScenarioDefinition& definition, const RunSettings& settings = {},
                   const std::vector<std::string>& options = {});

// The same for a scenario class with a static info() and a constructor
// taking pgrace::Options& (no registration needed).
template <class ScenarioClass>
ScenarioResult run(const RunSettings& settings = {}, const std::vector<std::string>& options = {}) {
  return run(definition_of<ScenarioClass>(), settings, options);
}

// The same for a scenario registered with PGRACE_REGISTER_SCENARIO, by name.
// Fails the test if no scenario has that name.
ScenarioResult run(const std::string& registered_name, const RunSettings& settings = {},
                   const std::vector<std::string>& options = {});

// Statement-level exploration, as `pgrace explore NAME --workers N`: the
// scenario's unchanged transaction() runs once on each worker, its requests
// let through one at a time in every order, fewest context switches
// (preemptions) first.
struct ExploreSettings {
  int workers = 2;                   // 2..8
  std::optional<int> max_switches;   // only the orders with at most this many; unset: every order
  std::size_t max_schedules = 1000;  // stop after this many executions (a partial exploration: see Holds())
  std::uint64_t seed = 0;            // the workers' parameters (w.uniform(), w.rng()); chosen as for run()
  // Input draws (RunSettings::draws): each gives w.rng() new seeds derived
  // from `seed`, and all its orders are explored. Unset: kDefaultDraws (16).
  std::optional<int> draws;
  std::optional<int> draw;  // explore only this draw, as a reproducer names it
  // Replace the scenario's Knobs::faults (an empty list: none); each rule
  // goes at every request it targets in turn (pgrace/faults.hpp).
  std::optional<std::vector<FaultRule>> faults;
  // Explore only this shard of the executions (RunSettings::shard), e.g.
  // from an environment variable set by a CI matrix: the shards' runs
  // together explore what one run does. Not with `draw`.
  std::optional<ExplorationShard> shard;
};

// Explores a stress scenario (its info() and factory) with `settings` and
// scenario options `options` ("key=value"). The result is in interleave mode:
// ScenarioResult::exploration has the counts, and the reproducer (the
// violating execution with the fewest switches, its steps the workers'
// requests: result.exploration.reproducer->steps[i].sql). Fails the test,
// as run() does, for an option the scenario does not read, for settings out
// of range, and for a scenario that is not a stress scenario or uses a
// connection pool. Never throws for a scenario's own errors; skipped
// without PostgreSQL as run() is.
ScenarioResult explore(const ScenarioDefinition& definition, const ExploreSettings& settings = {},
                       const std::vector<std::string>& options = {});

// The same for a scenario class with a static info() and a constructor
// taking pgrace::Options&.
template <class ScenarioClass>
ScenarioResult explore(const ExploreSettings& settings = {}, const std::vector<std::string>& options = {}) {
  return explore(definition_of<ScenarioClass>(), settings, options);
}

// Success when every invariant held in every repetition and the run had
// evidence (verdict "held"); for an exploration, also when it covered every
// schedule up to its bound (one stopped early, by max_schedules or a
// budget, fails: a partial exploration is not a pass). The failure message
// names each violated invariant with its witnesses (or the error), the
// seed, the timeline page written for it (see above), and the command line
// that repeats the run.
::testing::AssertionResult Holds(const ScenarioResult& result);

// Success when exactly `invariants` were violated, in every repetition; for
// a statement-level exploration (explore()), when some of `invariants` was
// violated and no other (pgrace/result.hpp's meets_explored_expectation()).
::testing::AssertionResult Violates(const ScenarioResult& result, const std::set<std::string>& invariants);

// Success when the run matched the expectation the scenario declares in
// info() (hold, or exactly the expected violations on every run).
::testing::AssertionResult MatchesExpectation(const ScenarioResult& result);

}  // namespace pgrace::testing

#define EXPECT_PGRACE_HOLDS(result) EXPECT_TRUE(::pgrace::testing::Holds(result))
#define ASSERT_PGRACE_HOLDS(result) ASSERT_TRUE(::pgrace::testing::Holds(result))
// The invariants as a braced list: EXPECT_PGRACE_VIOLATES(r, {"a", "b"}).
#define EXPECT_PGRACE_VIOLATES(result, ...) \
  EXPECT_TRUE(::pgrace::testing::Violates(result, std::set<std::string> __VA_ARGS__))
#define ASSERT_PGRACE_VIOLATES(result, ...) \
  ASSERT_TRUE(::pgrace::testing::Violates(result, std::set<std::string> __VA_ARGS__))
#define EXPECT_PGRACE_MATCHES(result) EXPECT_TRUE(::pgrace::testing::MatchesExpectation(result))
