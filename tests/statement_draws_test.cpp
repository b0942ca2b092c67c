// Input draws of statement-level exploration (explore --workers N --draws D)
// on a real ephemeral PostgreSQL. A lost update on one of eight counters
// needs both workers to draw the same counter: one draw of inputs (what
// explore tried before draws) misses it for most seeds, the default draws
// find it for every seed, and the reproducer names its draw, which replays
// it. The locked twin holds in every draw; a scenario that draws nothing
// has one draw, and says so.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <vector>

#include "pgrace/error.hpp"
#include "pgrace/report.hpp"
#include "pgrace/runner.hpp"
#include "pgrace/scenario.hpp"
#include "pgrace/server.hpp"
#include "scenario_support.hpp"
#include "statement/input_draw.hpp"

namespace {

using ::testing::HasSubstr;

constexpr int kCounters = 8;

// Each worker increments one of kCounters counters, drawn with w.uniform()
// (or counter 1 when `draws` is false), by read-modify-write: a lost update
// when both draw the same counter and read before either writes; with
// FOR UPDATE (`locked`) never.
class Counters : public pgrace::Scenario {
 public:
  Counters(bool locked, bool draws) : locked_(locked), draws_(draws) {}
  std::string schema() const override { return "CREATE TABLE counters (id int PRIMARY KEY, v int NOT NULL)"; }
  void seed(pqxx::work& tx) override {
    tx.exec("INSERT INTO counters SELECT g, 0 FROM generate_series(1, " + std::to_string(kCounters) + ") g");
  }
  pgrace::TxResult transaction(pgrace::Worker& w) override {
    const long id = draws_ ? w.uniform(1, kCounters) : 1;
    pqxx::work tx(w.connection());
    const std::string lock = locked_ ? " FOR UPDATE" : "";
    const int v = tx.exec1("SELECT v FROM counters WHERE id = " + std::to_string(id) + lock)[0].as<int>();
    tx.exec0("UPDATE counters SET v = " + std::to_string(v + 1) + " WHERE id = " + std::to_string(id));
    tx.commit();
    return pgrace::TxResult::committed;
  }
  std::vector<pgrace::Invariant> invariants() const override {
    return {pgrace::test::every_increment_counts("SELECT sum(v) FROM counters"),
            pgrace::no_rows("no counter is negative", "SELECT id, v FROM counters WHERE v < 0")};
  }

 private:
  bool locked_, draws_;
};

pgrace::ScenarioInfo counters_info(bool locked, std::set<std::string> expected = {"every increment counts"}) {
  return {locked ? "test.counters_locked" : "test.counters", "",
          locked ? pgrace::expect_hold() : pgrace::expect_violation(std::move(expected)), pgrace::Knobs{}};
}

class StatementDraws : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!server_) server_ = pgrace::Server::open(std::nullopt);
  }
  static void TearDownTestSuite() { server_.reset(); }
  static pgrace::ScenarioResult explore(bool locked, pgrace::RunSettings settings, bool draws = true) {
    Counters scenario(locked, draws);
    settings.statement_workers = 2;
    return pgrace::run_scenario(*server_, counters_info(locked), scenario, settings);
  }
  static std::unique_ptr<pgrace::Server> server_;
};
std::unique_ptr<pgrace::Server> StatementDraws::server_;

// Draw 0 is the seed's own (what explore used before draws: each worker
// its own sequence); odd draws give both workers the same sequence; draws
// 2, 6, ... one sequence shifted by a value per worker; 4, 8, ... sequences
// of their own, unlike draw 0's.
TEST(InputDraws, DrawZeroIsTheSeedsOwnTheOthersCollideOrAreNew) {
  using pgrace::detail::draw_generator;
  using pgrace::detail::DrawKind;
  for (std::uint64_t seed : {0ULL, 1ULL, 3ULL, 18446744073709551615ULL}) {
    std::seed_seq legacy{seed, std::uint64_t{1}, std::uint64_t{0}};
    std::mt19937_64 worker_1;
    worker_1.seed(legacy);
    EXPECT_EQ(draw_generator(seed, 0, 1)(), worker_1());
    for (int draw = 1; draw < 12; ++draw) {
      auto first = draw_generator(seed, draw, 0);
      const auto a = first(), a2 = first();
      const auto b = draw_generator(seed, draw, 1)();
      const DrawKind kind = pgrace::detail::draw_kind(draw);
      EXPECT_EQ(kind, draw % 2 ? DrawKind::same : draw % 4 == 2 ? DrawKind::shifted : DrawKind::independent);
      EXPECT_EQ(a == b, kind == DrawKind::same) << "seed " << seed << " draw " << draw;
      EXPECT_EQ(b == a2, kind == DrawKind::shifted) << "seed " << seed << " draw " << draw;
      EXPECT_NE(a, draw_generator(seed, 0, 0)());
      EXPECT_NE(a, draw_generator(seed + 1, draw, 0)());
    }
  }
}

TEST_F(StatementDraws, TheLostUpdateOnOneOfEightCountersIsFoundForEverySeed) {
  int found_with_one_draw = 0;
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    pgrace::RunSettings settings;
    settings.seed = seed;
    settings.max_switches = 1;
    const auto r = explore(false, settings);
    EXPECT_EQ(r.verdict, pgrace::Verdict::violated) << "seed " << seed << ": " << r.error;
    EXPECT_TRUE(r.matched);
    EXPECT_TRUE(r.exploration.inputs_drawn);
    EXPECT_EQ(r.exploration.draws, pgrace::kDefaultDraws);
    ASSERT_TRUE(r.exploration.reproducer);
    ASSERT_TRUE(r.exploration.reproducer->draw);
    EXPECT_EQ(r.exploration.reproducer->switches, 1);
    EXPECT_TRUE(r.exploration.first_violation_ms);
    EXPECT_EQ(pgrace::draws_text(r.exploration), "inputs: 16 draws of the workers' w.rng() (--draws)");
    settings.draws = 1;
    found_with_one_draw += explore(false, settings).verdict == pgrace::Verdict::violated;
  }
  // The counters collide in one draw of eight: the seeds' own draws find
  // the race only where the two workers happened to draw the same counter.
  EXPECT_LT(found_with_one_draw, 5);
}

TEST_F(StatementDraws, TheReproducersDrawAndScheduleReplayTheViolation) {
  pgrace::RunSettings settings;
  settings.seed = 2;
  settings.max_switches = 1;
  const auto found = explore(false, settings);
  ASSERT_TRUE(found.exploration.reproducer) << found.error;
  pgrace::RunSettings replay;
  replay.seed = 2;
  replay.draw = *found.exploration.reproducer->draw;
  replay.schedules = {found.exploration.reproducer->schedule};
  const auto replayed = explore(false, replay);
  EXPECT_EQ(replayed.verdict, pgrace::Verdict::violated) << replayed.error;
  EXPECT_EQ(replayed.exploration.explored, 1);
  ASSERT_TRUE(replayed.exploration.reproducer);
  EXPECT_EQ(replayed.exploration.reproducer->draw, found.exploration.reproducer->draw);
  EXPECT_EQ(replayed.exploration.reproducer->steps.size(), found.exploration.reproducer->steps.size());
  for (std::size_t i = 0; i < replayed.exploration.reproducer->steps.size(); ++i)
    EXPECT_EQ(replayed.exploration.reproducer->steps[i].sql, found.exploration.reproducer->steps[i].sql);
  // The replay command names the draw (when it is not 0) with the seed.
  pgrace::RunReport report;
  report.program = "pgrace";
  const std::string command = pgrace::reproducer_command(report, found);
  EXPECT_THAT(command, HasSubstr("--seed 2"));
  if (*found.exploration.reproducer->draw != 0) {
    EXPECT_THAT(command, HasSubstr("--draw " + std::to_string(*found.exploration.reproducer->draw)));
  }
}

TEST_F(StatementDraws, TheLockedCountersHoldInEveryOrderOfEveryDraw) {
  pgrace::RunSettings settings;
  settings.seed = 7;
  settings.max_switches = 2;
  settings.draws = 6;
  const auto r = explore(true, settings);
  EXPECT_EQ(r.verdict, pgrace::Verdict::held) << r.error;
  EXPECT_TRUE(r.matched);
  EXPECT_EQ(r.exploration.draws, 6);
  EXPECT_EQ(static_cast<std::uint64_t>(r.exploration.explored), r.exploration.total);
  EXPECT_GE(r.exploration.explored, 6 * 2);  // at least each draw's two serial orders
  EXPECT_EQ(r.exploration.violating, 0);
  EXPECT_FALSE(r.exploration.first_violation_ms);
}

TEST_F(StatementDraws, AScenarioThatDrawsNothingHasOneDrawAndSaysSo) {
  pgrace::RunSettings settings;
  settings.max_switches = 1;
  settings.draws = 8;
  const auto r = explore(false, settings, false);
  EXPECT_EQ(r.verdict, pgrace::Verdict::violated) << r.error;
  EXPECT_FALSE(r.exploration.inputs_drawn);
  EXPECT_EQ(r.exploration.draws, 1);
  EXPECT_EQ(pgrace::draws_text(r.exploration), "inputs: one (the workers draw no parameters from w.rng())");
  EXPECT_THAT(pgrace::summary_text(r), HasSubstr("\n     inputs: one (the workers draw no parameters"));
}

// Explore's rule for an expectation written for `run`: met when some
// expected invariant is violated and no other; the expected ones that two
// workers could not break are listed, not failed. An unexpected violation
// fails it.
TEST_F(StatementDraws, AnExpectedInvariantTwoWorkersCannotBreakIsListedNotFailed) {
  pgrace::RunSettings settings;
  settings.statement_workers = 2;
  settings.max_switches = 1;
  settings.seed = 1;
  Counters scenario(false, true);
  const auto both = pgrace::run_scenario(
      *server_, counters_info(false, {"every increment counts", "no counter is negative"}), scenario, settings);
  EXPECT_EQ(both.verdict, pgrace::Verdict::violated) << both.error;
  EXPECT_TRUE(both.matched);
  EXPECT_EQ(pgrace::unbroken_expected(both), std::vector<std::string>{"no counter is negative"});
  const auto other = pgrace::run_scenario(*server_, counters_info(false, {"no counter is negative"}), scenario, settings);
  EXPECT_EQ(other.verdict, pgrace::Verdict::violated) << other.error;
  EXPECT_FALSE(other.matched);
  EXPECT_TRUE(pgrace::meets_explored_expectation({"a"}, {"a", "b"}));
  EXPECT_FALSE(pgrace::meets_explored_expectation({"a", "c"}, {"a", "b"}));
  EXPECT_FALSE(pgrace::meets_explored_expectation({}, {"a"}));
  EXPECT_TRUE(pgrace::meets_explored_expectation({}, {}));
  EXPECT_FALSE(pgrace::meets_explored_expectation({"a"}, {}));
}

TEST_F(StatementDraws, DrawSettingsOutsideStatementLevelOrOutOfRangeAreRefused) {
  Counters scenario(false, true);
  pgrace::RunSettings without_workers;
  without_workers.draws = 4;
  EXPECT_THROW(pgrace::check_runnable(counters_info(false), scenario, without_workers), pgrace::SettingError);
  pgrace::RunSettings past_the_draws;
  past_the_draws.statement_workers = 2;
  past_the_draws.draws = 4;
  past_the_draws.draw = 4;
  try {
    pgrace::check_runnable(counters_info(false), scenario, past_the_draws);
    FAIL() << "--draw 4 of 4 draws was accepted";
  } catch (const pgrace::SettingError& e) {
    EXPECT_EQ(e.setting(), "draw");
    EXPECT_THAT(e.what(), HasSubstr("is not one of the 4 draws"));
  }
  pgrace::RunSettings zero;
  zero.statement_workers = 2;
  zero.draws = 0;
  EXPECT_THROW(pgrace::check_runnable(counters_info(false), scenario, zero), pgrace::SettingError);
}

}  // namespace
