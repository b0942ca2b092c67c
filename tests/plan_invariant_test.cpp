// Plan invariants (uses_index) and check mode, on a real ephemeral
// PostgreSQL. uses_index() must answer "could this query use an index" the
// same way whatever the table's size: it holds when every scan of the table
// finds its rows through an index condition, and is violated by a Seq Scan
// and by an index read whole; its settings must not leak into the checks
// after it. A scenario of invariants only runs in check mode, and a run
// that checked nothing is an error, not a pass.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "pgrace/error.hpp"
#include "pgrace/runner.hpp"
#include "pgrace/scenario.hpp"
#include "pgrace/server.hpp"

namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

// A scenario of invariants only, built from text.
class PlanOnly : public pgrace::Scenario {
 public:
  PlanOnly(std::string schema, std::vector<pgrace::Invariant> invariants, std::string seed = "")
      : schema_(std::move(schema)), seed_(std::move(seed)), invariants_(std::move(invariants)) {}
  explicit PlanOnly(pgrace::Options&) {}
  static pgrace::ScenarioInfo info() { return {"test.plan_only", "", pgrace::expect_hold(), pgrace::Knobs{}}; }
  std::string schema() const override { return schema_; }
  void seed(pqxx::work& tx) override {
    if (!seed_.empty()) tx.exec(seed_);
  }
  std::vector<pgrace::Invariant> invariants() const override { return invariants_; }

 private:
  std::string schema_, seed_;
  std::vector<pgrace::Invariant> invariants_;
};

// The same with concurrent work: each worker inserts an order.
class OrdersWithWork : public PlanOnly {
 public:
  using PlanOnly::PlanOnly;
  pgrace::TxResult transaction(pgrace::Worker& w) override {
    pqxx::work tx(w.connection());
    tx.exec("INSERT INTO orders (customer_id) VALUES (" + std::to_string(w.index() + 1) + ")");
    tx.commit();
    return pgrace::TxResult::committed;
  }
};

// A user's intermediate base that has the transaction; the leaf does not.
class LeafOfWorkingBase : public OrdersWithWork {
 public:
  using OrdersWithWork::OrdersWithWork;
};

// Overrides that are not public.
class PrivateTransaction : public PlanOnly {
 public:
  using PlanOnly::PlanOnly;

 private:
  pgrace::TxResult transaction(pgrace::Worker&) override { return pgrace::TxResult::committed; }
};

class WithSessions : public PlanOnly {
 public:
  using PlanOnly::PlanOnly;
  std::vector<pgrace::Session> sessions() const override { return {}; }
};

const char* const kOrders = "CREATE TABLE orders (id serial PRIMARY KEY, customer_id int NOT NULL, note text);";
const char* const kSeedOrders = "INSERT INTO orders (customer_id) SELECT g % 10 FROM generate_series(1, 50) g";

class PlanInvariant : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!server_) server_ = pgrace::Server::open(std::nullopt);
  }
  static void TearDownTestSuite() { server_.reset(); }

  static pgrace::ScenarioResult check(const std::string& schema, std::vector<pgrace::Invariant> invariants,
                                      pgrace::Expectation expectation = pgrace::expect_hold(), int repeat = 1) {
    PlanOnly scenario(schema, std::move(invariants), kSeedOrders);
    pgrace::ScenarioInfo info = pgrace::definition_of<PlanOnly>().info;
    info.expectation = std::move(expectation);
    pgrace::RunSettings settings;
    settings.repeat = repeat;
    return pgrace::run_scenario(*server_, info, scenario, settings);
  }
  static pgrace::Invariant by_customer(std::string sql = "SELECT * FROM orders WHERE customer_id = $1") {
    return pgrace::uses_index("by customer", std::move(sql), "orders", {"3"});
  }
  static std::unique_ptr<pgrace::Server> server_;
};
std::unique_ptr<pgrace::Server> PlanInvariant::server_;

TEST(PlanInvariantDefinition, ChecksOnlyWhenTheClassHasNeitherTransactionNorSessions) {
  EXPECT_TRUE(pgrace::definition_of<PlanOnly>().info.checks_only);
  EXPECT_FALSE(pgrace::definition_of<OrdersWithWork>().info.checks_only);
  EXPECT_FALSE(pgrace::definition_of<LeafOfWorkingBase>().info.checks_only);
  EXPECT_FALSE(pgrace::definition_of<WithSessions>().info.checks_only);
  EXPECT_FALSE(pgrace::definition_of<PrivateTransaction>().info.checks_only);
}

TEST_F(PlanInvariant, SeqScanWithoutAnIndexViolatesOnEveryRepetition) {
  const auto r = check(kOrders, {by_customer()}, pgrace::expect_violation({"by customer"}), 5);
  EXPECT_EQ(r.mode, pgrace::Mode::check);
  EXPECT_EQ(r.verdict, pgrace::Verdict::violated) << r.error;
  EXPECT_TRUE(r.matched);
  EXPECT_EQ(r.stress.repetitions, 5);
  EXPECT_EQ(r.invariants[0].violated_runs, 5);
  ASSERT_THAT(r.invariants[0].witnesses, SizeIs(1));
  EXPECT_THAT(r.invariants[0].witnesses[0], HasSubstr("Seq Scan on public.orders"));
  EXPECT_THAT(r.invariants[0].witnesses[0], HasSubstr("customer_id = 3"));
  EXPECT_EQ(r.invariants[0].table, "orders");
  EXPECT_THAT(r.invariants[0].params, ElementsAre("3"));
}

TEST_F(PlanInvariant, AnIndexOnTheColumnHoldsWhateverTheTableSize) {
  // 50 rows: the real plan is a Seq Scan; the question is whether an index could serve it.
  const auto r = check(std::string(kOrders) + "CREATE INDEX ON orders (customer_id);", {by_customer()});
  EXPECT_EQ(r.verdict, pgrace::Verdict::held) << r.error;
  EXPECT_EQ(r.stress.repetitions, 1);
}

TEST_F(PlanInvariant, AnIndexReadWholeForItsOrderIsNotAnIndexLookup) {
  const auto r = check(kOrders, {by_customer("SELECT * FROM orders WHERE customer_id = $1 ORDER BY id")},
                       pgrace::expect_violation({"by customer"}));
  EXPECT_EQ(r.verdict, pgrace::Verdict::violated) << r.error;
  ASSERT_THAT(r.invariants[0].witnesses, SizeIs(1));
  EXPECT_THAT(r.invariants[0].witnesses[0], HasSubstr("Index Scan using orders_pkey"));
  EXPECT_THAT(r.invariants[0].witnesses[0], HasSubstr("no index condition"));
}

TEST_F(PlanInvariant, AFunctionOnTheIndexedColumnDefeatsTheIndexAndAnExpressionIndexServesIt) {
  const std::string sql = "SELECT id FROM orders WHERE lower(note) = lower($1)";
  const auto plain =
      check(std::string(kOrders) + "CREATE INDEX ON orders (note);",
            {pgrace::uses_index("by note", sql, "orders", {"X"})}, pgrace::expect_violation({"by note"}));
  EXPECT_EQ(plain.verdict, pgrace::Verdict::violated) << plain.error;
  const auto expression = check(std::string(kOrders) + "CREATE INDEX ON orders (lower(note));",
                                {pgrace::uses_index("by note", sql, "orders", {"X"})});
  EXPECT_EQ(expression.verdict, pgrace::Verdict::held) << expression.error;
}

TEST_F(PlanInvariant, BitmapIndexOnlyAndJoinScansCount) {
  const std::string schema = std::string(kOrders) +
                             "CREATE INDEX ON orders (customer_id); CREATE INDEX ON orders (note);"
                             "CREATE TABLE customers (id int PRIMARY KEY, name text);";
  const auto r = check(
      schema, {pgrace::uses_index("bitmap or", "SELECT * FROM orders WHERE customer_id = $1 OR note = $2", "orders",
                                  {"3", "x"}),
               pgrace::uses_index("index only", "SELECT customer_id FROM orders WHERE customer_id = 3", "orders"),
               pgrace::uses_index(
                   "inner side of a join",
                   "SELECT o.id FROM customers c JOIN orders o ON o.customer_id = c.id WHERE c.name = 'a'", "orders")});
  EXPECT_EQ(r.verdict, pgrace::Verdict::held) << r.error;
  for (const auto& inv : r.invariants) EXPECT_TRUE(inv.held) << inv.name << ": " << inv.witnesses.at(0);
}

TEST_F(PlanInvariant, ABtreeIndexServesOnlyAConditionOnItsLeadingColumn) {
  const std::string schema = std::string(kOrders) + "CREATE INDEX orders_customer_note ON orders (customer_id, note);";
  const auto leading = check(schema, {by_customer()});
  EXPECT_EQ(leading.verdict, pgrace::Verdict::held) << leading.error;
  const auto second =
      check(schema, {pgrace::uses_index("by note", "SELECT * FROM orders WHERE note = $1", "orders", {"x"})},
            pgrace::expect_violation({"by note"}));
  EXPECT_EQ(second.verdict, pgrace::Verdict::violated) << second.error;
  ASSERT_THAT(second.invariants[0].witnesses, SizeIs(1));
  EXPECT_THAT(second.invariants[0].witnesses[0], HasSubstr("leaves out the index's leading column customer_id"));
}

TEST_F(PlanInvariant, AScanThatALimitStopsEarlyUsesItsIndexUnlessItFilters) {
  const auto newest =
      check(kOrders, {pgrace::uses_index("newest", "SELECT * FROM orders ORDER BY id DESC LIMIT 10", "orders")});
  EXPECT_EQ(newest.verdict, pgrace::Verdict::held) << newest.error;
  const auto filtered = check(
      kOrders,
      {pgrace::uses_index("newest of a customer",
                          "SELECT * FROM orders WHERE customer_id = $1 ORDER BY id DESC LIMIT 10", "orders", {"3"})},
      pgrace::expect_violation({"newest of a customer"}));
  EXPECT_EQ(filtered.verdict, pgrace::Verdict::violated) << filtered.error;
}

TEST_F(PlanInvariant, APartialIndexServesTheRowsItsPredicateSelects) {
  const std::string schema =
      "CREATE TABLE jobs (id int PRIMARY KEY, status text NOT NULL, created_at timestamptz NOT NULL);"
      "CREATE INDEX jobs_pending ON jobs (created_at) WHERE status = 'pending';";
  PlanOnly scenario(schema,
                    {pgrace::uses_index("next job",
                                        "SELECT id FROM jobs WHERE status = 'pending' ORDER BY created_at LIMIT 1 "
                                        "FOR UPDATE SKIP LOCKED",
                                        "jobs"),
                     pgrace::uses_index("pending jobs", "SELECT id FROM jobs WHERE status = 'pending'", "jobs")});
  const auto r = pgrace::run_scenario(*server_, pgrace::definition_of<PlanOnly>().info, scenario, {});
  EXPECT_EQ(r.verdict, pgrace::Verdict::held) << r.error;
  for (const auto& inv : r.invariants) EXPECT_TRUE(inv.held) << inv.name << ": " << inv.witnesses.at(0);
}

TEST_F(PlanInvariant, WrongSampleParametersAreAUsageErrorNotALostConnection) {
  try {
    check(kOrders, {pgrace::uses_index("x", "SELECT * FROM orders WHERE customer_id = $1", "orders", {"1", "2"})});
    FAIL() << "no error";
  } catch (const pgrace::Error& e) {
    EXPECT_EQ(e.code(), pgrace::ExitCode::usage) << e.what();
    EXPECT_THAT(e.what(), HasSubstr("sample parameters"));
  }
}

TEST_F(PlanInvariant, CountingEveryRowThroughAnIndexIsStillAFullScan) {
  const auto r = check(std::string(kOrders) + "CREATE INDEX ON orders (customer_id);",
                       {pgrace::uses_index("count", "SELECT count(*) FROM orders", "orders")},
                       pgrace::expect_violation({"count"}));
  EXPECT_EQ(r.verdict, pgrace::Verdict::violated) << r.error;
}

TEST_F(PlanInvariant, UpdatesArePlannedNotRun) {
  const auto r = check(
      kOrders,
      {pgrace::uses_index("update by customer", "UPDATE orders SET note = 'x' WHERE customer_id = $1", "orders", {"3"}),
       pgrace::equals("nothing was updated", "SELECT count(*) FROM orders WHERE note = 'x'", "0")},
      pgrace::expect_violation({"update by customer"}));
  EXPECT_EQ(r.verdict, pgrace::Verdict::violated) << r.error;
  EXPECT_TRUE(r.invariants[1].held);
  EXPECT_THAT(r.invariants[0].witnesses.at(0), HasSubstr("Seq Scan on public.orders"));
}

TEST_F(PlanInvariant, PartitionsOfTheTableAreItsScans) {
  const std::string parted =
      "CREATE TABLE orders (id int, customer_id int NOT NULL, note text) PARTITION BY RANGE (id);"
      "CREATE TABLE orders_low PARTITION OF orders FOR VALUES FROM (MINVALUE) TO (25);"
      "CREATE TABLE orders_high PARTITION OF orders FOR VALUES FROM (25) TO (MAXVALUE);";
  const auto seed = "INSERT INTO orders SELECT g, g % 10 FROM generate_series(1, 50) g";
  PlanOnly without(parted, {by_customer()}, seed);
  pgrace::ScenarioInfo info = pgrace::definition_of<PlanOnly>().info;
  info.expectation = pgrace::expect_violation({"by customer"});
  const auto violated = pgrace::run_scenario(*server_, info, without, {});
  EXPECT_EQ(violated.verdict, pgrace::Verdict::violated) << violated.error;
  EXPECT_THAT(violated.invariants[0].witnesses, SizeIs(2));  // one per partition
  PlanOnly with(parted + "CREATE INDEX ON orders (customer_id);", {by_customer()}, seed);
  info.expectation = pgrace::expect_hold();
  const auto held = pgrace::run_scenario(*server_, info, with, {});
  EXPECT_EQ(held.verdict, pgrace::Verdict::held) << held.error;
}

TEST_F(PlanInvariant, QualifiedAndQuotedTableNames) {
  const std::string schema =
      "CREATE SCHEMA shop; CREATE TABLE shop.\"Orders\" (id int PRIMARY KEY, customer_id int);"
      "CREATE INDEX ON shop.\"Orders\" (customer_id);";
  PlanOnly scenario(
      schema, {pgrace::uses_index("q", "SELECT * FROM shop.\"Orders\" WHERE customer_id = 1", "shop.\"Orders\"")});
  const auto r = pgrace::run_scenario(*server_, pgrace::definition_of<PlanOnly>().info, scenario, {});
  EXPECT_EQ(r.verdict, pgrace::Verdict::held) << r.error;
}

TEST_F(PlanInvariant, ItsSettingsDoNotLeakIntoLaterChecks) {
  const auto r = check(std::string(kOrders) + "CREATE INDEX ON orders (customer_id);",
                       {by_customer(), pgrace::equals("seq scans are enabled again", "SHOW enable_seqscan", "on")});
  EXPECT_EQ(r.verdict, pgrace::Verdict::held) << r.error;
  EXPECT_TRUE(r.invariants[1].held) << r.invariants[1].witnesses.at(0);
}

TEST_F(PlanInvariant, ChecksAfterConcurrentWorkToo) {
  OrdersWithWork scenario(kOrders, {by_customer()}, kSeedOrders);
  pgrace::ScenarioInfo info = pgrace::definition_of<OrdersWithWork>().info;
  info.expectation = pgrace::expect_violation({"by customer"});
  pgrace::RunSettings settings;
  settings.threads = 2;
  settings.iterations = 3;
  const auto r = pgrace::run_scenario(*server_, info, scenario, settings);
  EXPECT_EQ(r.mode, pgrace::Mode::stress);
  EXPECT_EQ(r.verdict, pgrace::Verdict::violated) << r.error;
  EXPECT_EQ(r.outcomes.at(pgrace::OutcomeClass::committed), 6);
}

TEST_F(PlanInvariant, AMissingTableIsAUsageErrorNamingIt) {
  try {
    check(kOrders, {pgrace::uses_index("x", "SELECT * FROM orders WHERE customer_id = 1", "ordres")});
    FAIL() << "no error";
  } catch (const pgrace::Error& e) {
    EXPECT_EQ(e.code(), pgrace::ExitCode::usage);
    EXPECT_THAT(e.what(), HasSubstr("'ordres', which does not exist"));
  }
}

TEST_F(PlanInvariant, ATableThePlanNeverReadsIsAUsageError) {
  try {
    check(std::string(kOrders) + "CREATE TABLE other (id int);",
          {pgrace::uses_index("x", "SELECT * FROM orders WHERE customer_id = 1", "other")});
    FAIL() << "no error";
  } catch (const pgrace::Error& e) {
    EXPECT_EQ(e.code(), pgrace::ExitCode::usage);
    EXPECT_THAT(e.what(), HasSubstr("never reads table 'other'"));
  }
}

TEST_F(PlanInvariant, AQueryThatFailsToPlanIsAUsageError) {
  try {
    check(kOrders, {pgrace::uses_index("x", "SELECT * FROM orders WHERE nope = $1", "orders", {"1"})});
    FAIL() << "no error";
  } catch (const pgrace::Error& e) {
    EXPECT_EQ(e.code(), pgrace::ExitCode::usage);
    EXPECT_THAT(e.what(), HasSubstr("column \"nope\" does not exist"));
  }
}

TEST_F(PlanInvariant, ACheckOnlyScenarioWithoutInvariantsIsAnError) {
  const auto r = check(kOrders, {});
  EXPECT_EQ(r.verdict, pgrace::Verdict::error);
  EXPECT_THAT(r.error, HasSubstr("tests nothing"));
}

TEST_F(PlanInvariant, BundledScenariosShowTheirBugOnEveryRunAndHoldWithoutIt) {
  const std::vector<std::pair<std::string, bool>> bundled = {{"plan.missing_index", true},
                                                             {"plan.indexed", false},
                                                             {"plan.function_on_indexed_column", true},
                                                             {"plan.expression_index", false}};
  for (const auto& [name, unsafe] : bundled) {
    const pgrace::ScenarioDefinition* definition = nullptr;
    for (const auto& d : pgrace::registered_scenarios())
      if (d.info.name == name) definition = &d;
    ASSERT_NE(definition, nullptr) << name;
    pgrace::Options options;
    auto scenario = pgrace::make_scenario(*definition, options);
    pgrace::RunSettings settings;
    settings.repeat = 20;
    const auto r = pgrace::run_scenario(*server_, definition->info, *scenario, settings);
    EXPECT_EQ(r.mode, pgrace::Mode::check) << name;
    EXPECT_EQ(r.verdict, unsafe ? pgrace::Verdict::violated : pgrace::Verdict::held) << name << ": " << r.error;
    EXPECT_EQ(r.stress.violating_runs, unsafe ? 20 : 0) << name;
    EXPECT_TRUE(r.matched) << name;
  }
}

}  // namespace
