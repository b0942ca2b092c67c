// Faults at statement level (pgrace explore NAME --workers N with faults)
// on a real ephemeral PostgreSQL: each fault rule goes at every request it
// targets in turn. The payment service that retries on any error must be
// caught charging twice after a lost COMMIT reply, with a reproducer that
// names the fault and replays; its idempotent twin must hold under every
// drop at every request; without the fault the naive one holds (the fault is
// what the invariant catches); a lost connection is the transaction's
// outcome (indeterminate, connection_dropped), never an infrastructure error.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "pgrace/error.hpp"
#include "pgrace/runner.hpp"
#include "pgrace/scenario.hpp"
#include "pgrace/server.hpp"
#include "scenario_support.hpp"
#include "statement/explorer.hpp"

namespace {

using namespace pgrace::test;
using pgrace::FaultKind;
using pgrace::FaultRule;
using pgrace::FaultTarget;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

pgrace::Server& server() {
  static std::unique_ptr<pgrace::Server> s = pgrace::Server::open(std::nullopt);
  return *s;
}

// Two input draws, the seed's own and one with both workers paying from
// the same wallet: every fault at every request of every order of each.
pgrace::RunSettings statement_settings(std::optional<std::vector<FaultRule>> faults, std::optional<int> max_switches) {
  pgrace::RunSettings settings;
  settings.statement_workers = 2;
  settings.seed = 1;
  settings.draws = 2;
  settings.faults = std::move(faults);
  settings.max_switches = max_switches;
  return settings;
}

pgrace::ScenarioResult explore_registered(const std::string& name, const pgrace::RunSettings& settings) {
  return run_registered(server(), name, settings);
}

bool names_a_fault(const pgrace::ScheduleResult& s) {
  for (const auto& step : s.schedule)
    if (step.find('!') != std::string::npos) return true;
  return false;
}

TEST(StatementFaultNames, AFaultedStepNamesItsWorkerRequestAndKind) {
  const auto planned = pgrace::detail::planned_fault_of({"w1.1", "w2.begin", "w2.3!drop_reply"}, 2);
  ASSERT_TRUE(planned);
  EXPECT_EQ(planned->worker, 1);
  EXPECT_EQ(planned->ordinal, 3);
  EXPECT_EQ(planned->rule.kind, FaultKind::drop_reply);
  EXPECT_EQ(pgrace::detail::planned_fault_of({"w1.1!drop_before_send"}, 2)->rule.kind, FaultKind::drop_before_send);
  EXPECT_FALSE(pgrace::detail::planned_fault_of({"w1.1", "w2.1"}, 2));
  EXPECT_THAT(pgrace::detail::choices_of({"w1.1", "w2.1!drop_reply", "w1.2"}, 2), ElementsAre(0, 1, 0));
  for (const char* bad : {"w1.begin!drop_reply", "w1.1!delay_reply", "w1.1!", "w1.1!drop", "w3.1!drop_reply"})
    EXPECT_THROW(pgrace::detail::planned_fault_of({bad}, 2), pgrace::Error) << bad;
  EXPECT_THROW(pgrace::detail::planned_fault_of({"w1.1!drop_reply", "w2.1!drop_reply"}, 2), pgrace::Error);
}

// The scenario's own rule (drop_reply on COMMITs): the double charge at no
// context switch, the same reproducer on every run, every violating
// execution a faulted one.
TEST(StatementFaults, RetryOnAnyErrorChargesTwiceAfterALostCommitReply) {
  std::string first;
  for (int run = 0; run < 2; ++run) {
    const auto r = explore_registered("payment.retry_any_error", statement_settings(std::nullopt, 1));
    ASSERT_EQ(r.verdict, pgrace::Verdict::violated) << r.error;
    EXPECT_TRUE(r.matched);
    EXPECT_GT(r.exploration.faulted, 0);
    EXPECT_EQ(r.exploration.infeasible, 0);
    ASSERT_TRUE(r.exploration.reproducer);
    const auto& reproducer = *r.exploration.reproducer;
    EXPECT_EQ(pgrace::detail::preemptions_of(reproducer), 0) << joined(reproducer.schedule);
    bool dropped_commit = false;
    for (const auto& step : reproducer.steps)
      dropped_commit = dropped_commit || (step.step.find("!drop_reply") != std::string::npos && step.sql == "COMMIT");
    EXPECT_TRUE(dropped_commit) << joined(reproducer.schedule);
    for (const auto& s : r.exploration.violating_schedules) EXPECT_TRUE(names_a_fault(s)) << joined(s.schedule);
    if (run == 0) first = joined(reproducer.schedule);
    EXPECT_EQ(joined(reproducer.schedule), first) << "the reproducer differs between runs";
  }
}

TEST(StatementFaults, TheFaultedReproducerReplaysAndWithoutItsFaultHolds) {
  const auto found = explore_registered("payment.retry_any_error", statement_settings(std::nullopt, 1));
  ASSERT_TRUE(found.exploration.reproducer);
  const std::vector<std::string> schedule = found.exploration.reproducer->schedule;
  auto settings = statement_settings(std::nullopt, std::nullopt);
  settings.schedules = {schedule};
  const auto replayed = explore_registered("payment.retry_any_error", settings);
  EXPECT_EQ(replayed.verdict, pgrace::Verdict::violated) << replayed.error;
  EXPECT_EQ(replayed.exploration.faulted, 1);

  // The same choices up to the fault, the fault left out: no double charge.
  std::vector<std::string> unfaulted;
  for (const auto& step : schedule) {
    const auto bang = step.find('!');
    unfaulted.push_back(step.substr(0, bang));
    if (bang != std::string::npos) break;
  }
  settings.schedules = {unfaulted};
  const auto plain = explore_registered("payment.retry_any_error", settings);
  EXPECT_EQ(plain.verdict, pgrace::Verdict::held) << plain.error << " " << joined(unfaulted);
  EXPECT_EQ(plain.exploration.faulted, 0);
}

// Both drops at every request, up to two switches: the idempotency key holds.
TEST(StatementFaults, TheIdempotentRetryHoldsUnderEveryDropAtEveryRequest) {
  const std::vector<FaultRule> every_drop{{FaultKind::drop_reply, FaultTarget::any, 1, {}},
                                          {FaultKind::drop_before_send, FaultTarget::any, 1, {}}};
  const auto r = explore_registered("payment.idempotent_retry", statement_settings(every_drop, 2));
  EXPECT_EQ(r.verdict, pgrace::Verdict::held) << r.error;
  EXPECT_TRUE(r.exploration.stopped.empty()) << r.exploration.stopped;
  EXPECT_EQ(r.exploration.infeasible, 0);
  // Each worker sends UPDATE-or-INSERT, INSERT-or-UPDATE, COMMIT: 6 chosen
  // requests, two kinds each, at least once.
  EXPECT_GE(r.exploration.faulted, 12);
}

TEST(StatementFaults, WithoutTheFaultTheNaiveRetryHolds) {
  const auto r = explore_registered("payment.retry_any_error", statement_settings(std::vector<FaultRule>{}, 3));
  EXPECT_EQ(r.verdict, pgrace::Verdict::held) << r.error;
  EXPECT_FALSE(r.matched);
  EXPECT_EQ(r.exploration.faulted, 0);
}

// One charge per worker, no retry: the lost connection leaves transaction().
class ChargeOnce : public pgrace::Scenario {
 public:
  std::string schema() const override { return "CREATE TABLE charges (worker int NOT NULL)"; }
  void seed(pqxx::work&) override {}
  pgrace::TxResult transaction(pgrace::Worker& w) override {
    pqxx::work tx(w.connection());
    tx.exec("INSERT INTO charges VALUES (" + std::to_string(w.index()) + ")");
    tx.commit();
    return pgrace::TxResult::committed;
  }
  std::vector<pgrace::Invariant> invariants() const override {
    return {pgrace::no_rows("at most one charge per worker",
                            "SELECT worker FROM charges GROUP BY worker HAVING count(*) > 1")};
  }
};

pgrace::ScenarioResult explore_charge_once(FaultKind kind) {
  ChargeOnce scenario;
  const pgrace::ScenarioInfo info{"test.charge_once", "", pgrace::expect_hold(), pgrace::Knobs{}};
  return pgrace::run_scenario(server(), info, scenario,
                              statement_settings(std::vector<FaultRule>{{kind, FaultTarget::commit, 1, {}}}, 1));
}

TEST(StatementFaults, ALostCommitReplyIsIndeterminateADropBeforeItIsConnectionDropped) {
  const auto lost_reply = explore_charge_once(FaultKind::drop_reply);
  EXPECT_EQ(lost_reply.verdict, pgrace::Verdict::held) << lost_reply.error;
  EXPECT_GT(lost_reply.exploration.faulted, 0);
  EXPECT_GT(lost_reply.outcomes.count(pgrace::OutcomeClass::indeterminate), 0u);
  EXPECT_EQ(lost_reply.outcomes.count(pgrace::OutcomeClass::connection_dropped), 0u);
  EXPECT_EQ(lost_reply.outcomes.count(pgrace::OutcomeClass::connection_lost), 0u);

  const auto not_sent = explore_charge_once(FaultKind::drop_before_send);
  EXPECT_EQ(not_sent.verdict, pgrace::Verdict::held) << not_sent.error;
  EXPECT_GT(not_sent.outcomes.count(pgrace::OutcomeClass::connection_dropped), 0u);
  EXPECT_EQ(not_sent.outcomes.count(pgrace::OutcomeClass::indeterminate), 0u);
  EXPECT_EQ(not_sent.outcomes.count(pgrace::OutcomeClass::connection_lost), 0u);
}

}  // namespace
