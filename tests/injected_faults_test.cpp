// Integration tests of fault injection in stress mode (Knobs::faults,
// RunSettings::faults, --fault; pgrace/faults.hpp) on a real ephemeral
// PostgreSQL: the payment scenarios (scenarios/payment.cpp), test-local
// scenarios with one fault at every COMMIT or every request, and the
// pgrace program.
//
// The invariants these tests check: a lost COMMIT reply is what makes the
// naive payment service charge twice — it violates "each request charged
// once" in every repetition on every seed, and holds with --fault none —
// while the idempotent service holds under the same faults. The outcome
// pgrace reports for a dropped connection is honest, by the database's own
// count of what committed: 'indeterminate' transactions did commit (a lost
// COMMIT reply), 'connection_dropped' ones did not (a COMMIT never sent).
// One seed injects the same faults on every run. A delayed reply delays,
// and still commits. The first violating repetition's requests reach the
// report, with the dropped COMMIT among them. No proxy directory is left.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <regex>
#include <set>

#include "footprint.hpp"
#include "pgrace/error.hpp"
#include "pgrace/faults.hpp"
#include "pgrace/report.hpp"
#include "pgrace/runner.hpp"
#include "pgrace/scenario.hpp"
#include "pgrace/server.hpp"
#include "scenario_support.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using namespace pgrace::test;
using pgrace::FaultKind;
using pgrace::FaultRule;
using pgrace::FaultTarget;
using pgrace::OutcomeClass;
using ::testing::HasSubstr;

const char* const kRetryAnyError = "payment.retry_any_error";
const char* const kIdempotent = "payment.idempotent_retry";
const char* const kChargedOnce = "each request charged once";
const char* const kBalancesMatch = "balances match the charges";
constexpr int kRepeat = 3;
constexpr long kChargesPerRepetition = 4 * 20;  // the payment scenarios' threads x iterations
const std::vector<std::uint64_t> kSeeds = {1, 2, 3, 20261127, 18446744073709551615ULL};

long faults(const pgrace::ScenarioResult& r, FaultKind kind) {
  auto it = r.stress.faults.find(kind);
  return it == r.stress.faults.end() ? 0 : it->second;
}

const pgrace::InvariantResult& invariant(const pgrace::ScenarioResult& r, const std::string& name) {
  for (const auto& i : r.invariants)
    if (i.name == name) return i;
  throw std::runtime_error("no invariant " + name);
}

// The SQL count `sql` returns, after each repetition: an invariant that
// always holds and records the count, checked after the run only.
class CountProbe {
 public:
  CountProbe(std::string name, std::string sql) : name_(std::move(name)), sql_(std::move(sql)) {}
  pgrace::Invariant invariant() const {
    return pgrace::predicate(
        name_,
        [counts = counts_, sql = sql_](const pgrace::CheckContext& context) {
          const long n = context.tx.exec1(sql)[0].as<long>();
          std::lock_guard lock(counts->mutex);
          counts->values.push_back(n);
          return std::vector<std::string>{};
        },
        false);
  }
  // One count per repetition, in order.
  std::vector<long> values() const {
    std::lock_guard lock(counts_->mutex);
    return counts_->values;
  }
  long total() const {
    long sum = 0;
    for (long n : values()) sum += n;
    return sum;
  }

 private:
  struct Counts {
    std::mutex mutex;
    std::vector<long> values;
  };
  std::string name_, sql_;
  std::shared_ptr<Counts> counts_ = std::make_shared<Counts>();
};

// A bundled scenario, unchanged, with a probe of its ledger added to its
// invariants: the number of charges in the database after each repetition.
class WithChargeCount final : public pgrace::Scenario {
 public:
  WithChargeCount(std::unique_ptr<pgrace::Scenario> inner, CountProbe probe)
      : inner_(std::move(inner)), probe_(std::move(probe)) {}
  std::string schema() const override { return inner_->schema(); }
  void prepare(pqxx::connection& c) override { inner_->prepare(c); }
  void seed(pqxx::work& tx) override { inner_->seed(tx); }
  pgrace::TxResult transaction(pgrace::Worker& w) override { return inner_->transaction(w); }
  std::vector<pgrace::Invariant> invariants() const override {
    auto all = inner_->invariants();
    all.push_back(probe_.invariant());
    return all;
  }

 private:
  std::unique_ptr<pgrace::Scenario> inner_;
  CountProbe probe_;
};

class InjectedFaults : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!server_) server_ = pgrace::Server::open(std::nullopt);
  }
  static void TearDownTestSuite() { server_.reset(); }

  static pgrace::RunSettings settings(std::uint64_t seed, int repeat = kRepeat) {
    pgrace::RunSettings s;
    s.repeat = repeat;
    s.seed = seed;
    s.max_witnesses = 1000;  // every duplicated request
    return s;
  }

  // A payment scenario run with its charge count probed after each repetition.
  static pgrace::ScenarioResult run_payment(const std::string& name, const pgrace::RunSettings& s,
                                            CountProbe& charges) {
    const auto& def = definition(name);
    pgrace::Options options;
    WithChargeCount scenario(def.make(options), charges);
    return pgrace::run_scenario(*server_, def.info, scenario, s);
  }

  static std::unique_ptr<pgrace::Server> server_;
};

std::unique_ptr<pgrace::Server> InjectedFaults::server_;

CountProbe charge_count() { return {"probe: charges in the ledger", "SELECT count(*) FROM charges"}; }

// The request ids "each request charged once" names, with their charge counts.
std::map<std::string, long> duplicated_requests(const pgrace::ScenarioResult& r) {
  static const std::regex witness(R"(\(request_id=(w\d+-\d+), charges=(\d+)\))");
  std::map<std::string, long> out;
  for (const std::string& w : invariant(r, kChargedOnce).witnesses) {
    std::smatch m;
    if (!std::regex_match(w, m, witness)) throw std::runtime_error("unexpected witness " + w);
    out[m[1]] = std::stol(m[2]);
  }
  return out;
}

// ------------------------------------------------------- payment scenarios

TEST_F(InjectedFaults, PaymentScenariosAskForLostCommitRepliesOnly) {
  for (const char* name : {kRetryAnyError, kIdempotent}) {
    const auto& faults = definition(name).info.defaults.faults;
    ASSERT_EQ(faults.size(), 1u) << name;
    EXPECT_EQ(pgrace::to_string(faults[0]), "drop_reply:commit:0.3") << name;
  }
  EXPECT_EQ(definition(kRetryAnyError).info.expectation.violated, std::set<std::string>{kChargedOnce});
  EXPECT_FALSE(definition(kIdempotent).info.expectation.expects_violation());
}

// Every COMMIT a drop_reply hit ran on the server: the naive service's
// ledger holds one charge per attempt, which is one per transaction that
// ended committed plus one per dropped reply. The transactions that lost
// the reply of all three attempts end 'indeterminate', and did commit.
TEST_F(InjectedFaults, RetryAnyErrorChargesTwiceOnEverySeedAndTheLedgerAccountsForEveryDroppedReply) {
  for (const std::uint64_t seed : kSeeds) {
    CountProbe charges = charge_count();
    const pgrace::ScenarioResult r = run_payment(kRetryAnyError, settings(seed), charges);
    SCOPED_TRACE("seed " + std::to_string(seed) + ": " + summary_with_error(r));
    EXPECT_EQ(r.error, "");
    EXPECT_EQ(r.verdict, pgrace::Verdict::violated);
    EXPECT_TRUE(r.matched);
    EXPECT_EQ(r.stress.violating_runs, kRepeat);
    EXPECT_TRUE(invariant(r, kBalancesMatch).held) << "every charge debited its wallet";

    const long drops = faults(r, FaultKind::drop_reply);
    EXPECT_GT(drops, 0);
    EXPECT_EQ(r.stress.faults.size(), 1u) << "only drop_reply was asked for";
    EXPECT_EQ(outcome(r, OutcomeClass::committed) + outcome(r, OutcomeClass::indeterminate),
              kChargesPerRepetition * kRepeat)
        << "every transaction either committed or lost its last COMMIT reply";
    for (OutcomeClass bad : {OutcomeClass::connection_lost, OutcomeClass::connection_dropped,
                             OutcomeClass::scenario_error, OutcomeClass::other_sql_error})
      EXPECT_EQ(outcome(r, bad), 0) << pgrace::to_string(bad);

    ASSERT_EQ(charges.values().size(), static_cast<std::size_t>(kRepeat));
    EXPECT_EQ(charges.total(), outcome(r, OutcomeClass::committed) + drops)
        << "one charge per transaction that committed and one per dropped COMMIT reply";
  }
}

// The same lost replies against the idempotent service: one charge per
// request, whatever was dropped.
TEST_F(InjectedFaults, IdempotentRetryHoldsOnEverySeedWithOneChargePerRequest) {
  for (const std::uint64_t seed : kSeeds) {
    CountProbe charges = charge_count();
    const pgrace::ScenarioResult r = run_payment(kIdempotent, settings(seed), charges);
    SCOPED_TRACE("seed " + std::to_string(seed) + ": " + summary_with_error(r));
    EXPECT_EQ(r.error, "");
    EXPECT_EQ(r.verdict, pgrace::Verdict::held);
    EXPECT_TRUE(r.matched);
    EXPECT_EQ(r.stress.violating_runs, 0);
    EXPECT_GT(faults(r, FaultKind::drop_reply), 0);
    EXPECT_EQ(outcome(r, OutcomeClass::connection_lost), 0);
    EXPECT_EQ(outcome(r, OutcomeClass::scenario_error), 0);
    EXPECT_EQ(outcome(r, OutcomeClass::committed) + outcome(r, OutcomeClass::indeterminate),
              kChargesPerRepetition * kRepeat);
    EXPECT_EQ(charges.values(), std::vector<long>(kRepeat, kChargesPerRepetition));
    EXPECT_EQ(r.stress.requests_repetition, 0);
    EXPECT_TRUE(r.stress.requests.empty());
    EXPECT_TRUE(pgrace::to_json(r).at("requests").is_null());
  }
}

// Without the fault the naive service charges once: the violation is the lost reply's.
TEST_F(InjectedFaults, RetryAnyErrorHoldsWithoutFaults) {
  pgrace::RunSettings s = settings(kSeeds[0], 2);
  s.faults = std::vector<FaultRule>{};
  CountProbe charges = charge_count();
  const pgrace::ScenarioResult r = run_payment(kRetryAnyError, s, charges);
  SCOPED_TRACE(summary_with_error(r));
  EXPECT_EQ(r.verdict, pgrace::Verdict::held);
  EXPECT_FALSE(r.matched);
  EXPECT_TRUE(r.stress.faults.empty());
  EXPECT_TRUE(r.knobs.faults.empty());
  EXPECT_EQ(outcome(r, OutcomeClass::committed), kChargesPerRepetition * 2);
  EXPECT_EQ(charges.values(), std::vector<long>(2, kChargesPerRepetition));
  EXPECT_TRUE(pgrace::to_json(r).at("faults").empty());
}

// The first violating repetition's requests, in the JSON report: each
// worker's last 100, with the dropped COMMITs marked.
TEST_F(InjectedFaults, TheViolatingRunsRequestsReachTheReportWithTheDroppedCommit) {
  CountProbe charges = charge_count();
  const pgrace::ScenarioResult r = run_payment(kRetryAnyError, settings(kSeeds[1]), charges);
  SCOPED_TRACE(summary_with_error(r));
  ASSERT_EQ(r.verdict, pgrace::Verdict::violated);
  const nlohmann::json report = pgrace::to_json(r);
  EXPECT_EQ(report.at("config").at("faults"), nlohmann::json::array({"drop_reply:commit:0.3"}));
  EXPECT_EQ(report.at("faults"), nlohmann::json({{"drop_reply", faults(r, FaultKind::drop_reply)}}));
  EXPECT_EQ(report.at("outcomes").count("connection_lost"), 0u);

  const nlohmann::json& requests = report.at("requests");
  ASSERT_TRUE(requests.is_object()) << requests;
  EXPECT_EQ(requests.at("repetition"), 1) << "every repetition violates: the first one's requests";
  const nlohmann::json& list = requests.at("list");
  ASSERT_FALSE(list.empty());
  std::map<int, int> per_worker;
  int dropped_commits = 0;
  double last_start = -1;
  for (const auto& q : list) {
    const int worker = q.at("worker");
    EXPECT_GE(worker, 0);
    EXPECT_LT(worker, 4);
    ++per_worker[worker];
    EXPECT_GE(q.at("started_ms").get<double>(), last_start) << "in the order they started";
    last_start = q.at("started_ms");
    if (q.at("fault") == "drop_reply") {
      EXPECT_EQ(q.at("sql"), "COMMIT") << "drop_reply:commit hit a request that is not a COMMIT";
      EXPECT_EQ(q.at("status"), "I") << "the COMMIT ran: its ReadyForQuery came, idle";
      EXPECT_TRUE(q.at("sqlstate").is_null());
      ++dropped_commits;
    } else {
      EXPECT_TRUE(q.at("fault").is_null()) << q;
    }
  }
  EXPECT_GT(dropped_commits, 0);
  EXPECT_LE(dropped_commits, faults(r, FaultKind::drop_reply));
  for (const auto& [worker, n] : per_worker) EXPECT_LE(n, 100) << "worker " << worker;
  EXPECT_EQ(per_worker.size(), 4u) << "every worker's requests";
  // The charges of the duplicated requests are in the list too.
  const auto duplicated = duplicated_requests(r);
  ASSERT_FALSE(duplicated.empty());
  bool named = false;
  for (const auto& q : list)
    for (const auto& [request, n] : duplicated)
      named = named || q.at("sql").get<std::string>().find("'" + request + "'") != std::string::npos;
  EXPECT_TRUE(named) << "no request of the list charges a duplicated request id";
}

// One seed, the same faults: the same count, the same outcomes, the same
// requests charged twice; another seed, other requests.
TEST_F(InjectedFaults, OneSeedInjectsTheSameFaultsOnEveryRun) {
  const auto run_once = [](std::uint64_t seed) {
    CountProbe charges = charge_count();
    return run_payment(kRetryAnyError, settings(seed, 1), charges);
  };
  const pgrace::ScenarioResult first = run_once(kSeeds[3]);
  const pgrace::ScenarioResult second = run_once(kSeeds[3]);
  const pgrace::ScenarioResult other = run_once(kSeeds[0]);
  SCOPED_TRACE(summary_with_error(first) + summary_with_error(second) + summary_with_error(other));
  EXPECT_EQ(first.stress.faults, second.stress.faults);
  EXPECT_EQ(first.outcomes, second.outcomes);
  const auto duplicated = duplicated_requests(first);
  EXPECT_FALSE(duplicated.empty());
  EXPECT_EQ(duplicated, duplicated_requests(second));
  EXPECT_NE(duplicated, duplicated_requests(other));
  // Each extra charge is a dropped reply that was retried.
  long extra = 0;
  for (const auto& [request, n] : duplicated) extra += n - 1;
  EXPECT_EQ(extra, faults(first, FaultKind::drop_reply) - outcome(first, OutcomeClass::indeterminate));
}

// ------------------------------------------------------ test-local scenarios

// A charge with no retry: one INSERT per transaction, its row naming the
// worker and iteration. `probe` counts the rows after each repetition.
class OneChargePerTransaction final : public pgrace::Scenario {
 public:
  explicit OneChargePerTransaction(CountProbe probe) : probe_(std::move(probe)) {}
  std::string schema() const override {
    return "CREATE TABLE charges (worker int, iteration int, PRIMARY KEY (worker, iteration))";
  }
  void seed(pqxx::work&) override {}
  pgrace::TxResult transaction(pgrace::Worker& w) override {
    const auto started = Clock::now();
    {
      pqxx::work tx(w.connection());
      tx.exec("INSERT INTO charges VALUES (" + std::to_string(w.index()) + ", " + std::to_string(w.iteration()) + ")");
      tx.commit();
    }
    note_duration(Clock::now() - started);
    return pgrace::TxResult::committed;
  }
  std::vector<pgrace::Invariant> invariants() const override { return {probe_.invariant()}; }
  // The shortest transaction() that returned, or nullopt.
  std::optional<Clock::duration> shortest() const {
    const auto n = shortest_.load();
    return n == Clock::duration::max() ? std::nullopt : std::optional<Clock::duration>(n);
  }

 private:
  void note_duration(Clock::duration d) {
    auto current = shortest_.load();
    while (d < current && !shortest_.compare_exchange_weak(current, d)) {
    }
  }
  CountProbe probe_;
  std::atomic<Clock::duration> shortest_{Clock::duration::max()};
};

pgrace::ScenarioInfo one_charge_info(const std::string& name, FaultRule rule, bool expects_no_commits) {
  pgrace::Knobs knobs;
  knobs.threads = 3;
  knobs.iterations = 4;
  knobs.faults = {rule};
  pgrace::ScenarioInfo info{name, "one charge per transaction, no retry", pgrace::expect_hold(), knobs};
  info.expects_no_commits = expects_no_commits;
  return info;
}

constexpr long kOneChargeTransactions = 3 * 4;

// Every COMMIT loses its reply: every transaction ends 'indeterminate', and
// the database holds every charge — indeterminate is no euphemism for
// "failed". Each transaction's next one runs on a new connection.
TEST_F(InjectedFaults, EveryLostCommitReplyIsIndeterminateAndDidCommit) {
  CountProbe rows{"probe: rows", "SELECT count(*) FROM charges"};
  OneChargePerTransaction scenario(rows);
  const auto info =
      one_charge_info("test.lost_commit_replies", {FaultKind::drop_reply, FaultTarget::commit, 1, {}}, true);
  const pgrace::ScenarioResult r = pgrace::run_scenario(*server_, info, scenario, settings(5, 2));
  SCOPED_TRACE(summary_with_error(r));
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.verdict, pgrace::Verdict::held);
  EXPECT_EQ(r.outcomes, (std::map<OutcomeClass, long>{{OutcomeClass::indeterminate, kOneChargeTransactions * 2}}));
  EXPECT_EQ(r.stress.faults, (std::map<FaultKind, long>{{FaultKind::drop_reply, kOneChargeTransactions * 2}}));
  EXPECT_EQ(rows.values(), std::vector<long>(2, kOneChargeTransactions))
      << "an indeterminate charge that did not commit";
  EXPECT_EQ(r.sqlstates, (std::map<std::string, long>{{"08006", kOneChargeTransactions * 2}}));
}

// The same run with the scenario's default evidence rule: no transaction
// ended 'committed', so the run is an error — although every charge did
// commit, no commit was confirmed to the client: the evidence rule counts
// only 'committed', and the error says the faults ended them all.
TEST_F(InjectedFaults, OnlyIndeterminateOutcomesAreNoEvidence) {
  CountProbe rows{"probe: rows", "SELECT count(*) FROM charges"};
  OneChargePerTransaction scenario(rows);
  const auto info =
      one_charge_info("test.lost_commit_replies", {FaultKind::drop_reply, FaultTarget::commit, 1, {}}, false);
  const pgrace::ScenarioResult r = pgrace::run_scenario(*server_, info, scenario, settings(5, 1));
  SCOPED_TRACE(summary_with_error(r));
  EXPECT_EQ(r.verdict, pgrace::Verdict::error);
  EXPECT_THAT(r.error, HasSubstr("no transaction committed in repetition 1 of 1 (12 ended: indeterminate=12"));
  EXPECT_THAT(r.error, HasSubstr("the injected faults ended them all"));
  EXPECT_EQ(rows.values(), std::vector<long>{kOneChargeTransactions});
}

// The issue's case: every COMMIT reply of transfer.check_then_debit is lost.
// Nothing ends 'committed' (two transfers are rejected by the scenario's
// own check, the rest are indeterminate), yet "no negative balance" is
// violated, by transfers whose COMMIT did run: that violation is the run's
// evidence. It was an error saying "the run tested nothing; fix the
// scenario" beside the violation's witness.
TEST_F(InjectedFaults, AViolationUnderLostCommitRepliesIsEvidenceNotARunThatTestedNothing) {
  int violating = 0;
  for (std::uint64_t seed : kSeeds) {
    pgrace::RunSettings s = settings(seed, 1);
    s.iterations = 2;
    s.faults = std::vector<FaultRule>{{FaultKind::drop_reply, FaultTarget::commit, 1, {}}};
    const pgrace::ScenarioResult r = run_registered(*server_, "transfer.check_then_debit", s);
    SCOPED_TRACE("seed " + std::to_string(seed) + ": " + summary_with_error(r));
    EXPECT_EQ(outcome(r, OutcomeClass::committed), 0);
    EXPECT_GT(outcome(r, OutcomeClass::indeterminate), 0);
    EXPECT_THAT(r.error, ::testing::Not(HasSubstr("tested nothing")));
    if (invariant(r, "no negative balance").held) continue;  // the race did not happen: the error says why
    ++violating;
    EXPECT_EQ(r.error, "");
    EXPECT_EQ(r.verdict, pgrace::Verdict::violated);
    EXPECT_TRUE(r.matched);
  }
  EXPECT_GT(violating, 0) << "no seed showed the violation: the case is not what it should be";
}

// A charge that worker 0 rejects (it never begins) and the others make.
class RejectedByWorkerZero final : public pgrace::Scenario {
 public:
  std::string schema() const override { return "CREATE TABLE charges (worker int, iteration int)"; }
  void seed(pqxx::work&) override {}
  pgrace::TxResult transaction(pgrace::Worker& w) override {
    if (w.index() == 0) return pgrace::TxResult::rejected;
    pqxx::work tx(w.connection());
    tx.exec("INSERT INTO charges VALUES (" + std::to_string(w.index()) + ", " + std::to_string(w.iteration()) + ")");
    tx.commit();
    return pgrace::TxResult::committed;
  }
  std::vector<pgrace::Invariant> invariants() const override {
    return {pgrace::no_rows("charges are positive", "SELECT * FROM charges WHERE worker < 0")};
  }
};

// No violation, nothing committed: the faults ended 8 of the 12
// transactions and the scenario rejected the rest. The error says the
// faults ended 8; it said "the run tested nothing; fix the scenario".
TEST_F(InjectedFaults, WhenTheFaultsEndedSomeOfTheTransactionsTheErrorSaysHowMany) {
  RejectedByWorkerZero scenario;
  const auto info =
      one_charge_info("test.rejected_and_lost_commits", {FaultKind::drop_reply, FaultTarget::commit, 1, {}}, false);
  const pgrace::ScenarioResult r = pgrace::run_scenario(*server_, info, scenario, settings(5, 1));
  SCOPED_TRACE(summary_with_error(r));
  EXPECT_EQ(r.verdict, pgrace::Verdict::error);
  EXPECT_THAT(r.error, HasSubstr("(12 ended: rejected=4, indeterminate=8"));
  EXPECT_THAT(r.error, HasSubstr("no commit was confirmed, the injected faults ended 8 of them"));
  EXPECT_THAT(r.error, ::testing::Not(HasSubstr("tested nothing")));
}

// Every COMMIT is dropped before it is sent: every transaction ends
// 'connection_dropped' and nothing reached the database.
TEST_F(InjectedFaults, EveryCommitDroppedBeforeSendingIsConnectionDroppedAndNothingCommitted) {
  CountProbe rows{"probe: rows", "SELECT count(*) FROM charges"};
  OneChargePerTransaction scenario(rows);
  const auto info =
      one_charge_info("test.unsent_commits", {FaultKind::drop_before_send, FaultTarget::commit, 1, {}}, true);
  const pgrace::ScenarioResult r = pgrace::run_scenario(*server_, info, scenario, settings(6, 2));
  SCOPED_TRACE(summary_with_error(r));
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.verdict, pgrace::Verdict::held);
  EXPECT_EQ(r.outcomes, (std::map<OutcomeClass, long>{{OutcomeClass::connection_dropped, kOneChargeTransactions * 2}}));
  EXPECT_EQ(r.stress.faults, (std::map<FaultKind, long>{{FaultKind::drop_before_send, kOneChargeTransactions * 2}}));
  EXPECT_EQ(rows.values(), std::vector<long>(2, 0)) << "a COMMIT pgrace never sent committed";
}

// A charge ended by COMMIT AND CHAIN: it commits and opens the next
// transaction at once, so its ReadyForQuery says 'T', not idle.
class ChainedCharge final : public pgrace::Scenario {
 public:
  explicit ChainedCharge(CountProbe probe) : probe_(std::move(probe)) {}
  std::string schema() const override {
    return "CREATE TABLE charges (worker int, iteration int, PRIMARY KEY (worker, iteration))";
  }
  void seed(pqxx::work&) override {}
  pgrace::TxResult transaction(pgrace::Worker& w) override {
    pqxx::nontransaction tx(w.connection());
    tx.exec("BEGIN");
    tx.exec("INSERT INTO charges VALUES (" + std::to_string(w.index()) + ", " + std::to_string(w.iteration()) + ")");
    tx.exec("COMMIT AND CHAIN");
    tx.exec("ROLLBACK");  // the chained transaction, empty
    return pgrace::TxResult::committed;
  }
  std::vector<pgrace::Invariant> invariants() const override { return {probe_.invariant()}; }

 private:
  CountProbe probe_;
};

// Its lost reply is indeterminate too: the database holds every charge.
TEST_F(InjectedFaults, ALostCommitAndChainReplyIsIndeterminateAndDidCommit) {
  CountProbe rows{"probe: rows", "SELECT count(*) FROM charges"};
  ChainedCharge scenario(rows);
  const auto info =
      one_charge_info("test.lost_chained_commit_replies", {FaultKind::drop_reply, FaultTarget::commit, 1, {}}, true);
  const pgrace::ScenarioResult r = pgrace::run_scenario(*server_, info, scenario, settings(8, 1));
  SCOPED_TRACE(summary_with_error(r));
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(rows.values(), std::vector<long>{kOneChargeTransactions});
  EXPECT_EQ(r.outcomes, (std::map<OutcomeClass, long>{{OutcomeClass::indeterminate, kOneChargeTransactions}}));
}

// Every request's reply comes 30 ms late: each transaction (an INSERT and
// a COMMIT at least) takes at least 60 ms, and commits. Lower bounds only.
TEST_F(InjectedFaults, DelayedRepliesDelayEachTransactionAndCommit) {
  CountProbe rows{"probe: rows", "SELECT count(*) FROM charges"};
  OneChargePerTransaction scenario(rows);
  const auto info = one_charge_info(
      "test.delayed_replies", {FaultKind::delay_reply, FaultTarget::any, 1, std::chrono::milliseconds(30)}, false);
  const pgrace::ScenarioResult r = pgrace::run_scenario(*server_, info, scenario, settings(7, 1));
  SCOPED_TRACE(summary_with_error(r));
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.verdict, pgrace::Verdict::held);
  EXPECT_EQ(r.outcomes, (std::map<OutcomeClass, long>{{OutcomeClass::committed, kOneChargeTransactions}}));
  EXPECT_EQ(rows.values(), std::vector<long>{kOneChargeTransactions});
  EXPECT_EQ(r.stress.faults.size(), 1u);
  EXPECT_GE(faults(r, FaultKind::delay_reply), 2 * kOneChargeTransactions) << "an INSERT and a COMMIT each";
  const auto shortest = scenario.shortest();
  ASSERT_TRUE(shortest.has_value());
  EXPECT_GE(*shortest, std::chrono::milliseconds(60));
  EXPECT_GE(r.stress.latency.p50_ms, 60);
}

// Faults go into a stress run's worker connections; an interleave scenario
// has none: a usage error naming the setting and the scenario, not a verdict.
TEST_F(InjectedFaults, FaultsOnAnInterleaveScenarioAreAUsageError) {
  const auto& def = definition("transfer.lost_update_schedule");
  pgrace::Options options;
  auto scenario = def.make(options);
  pgrace::RunSettings s = settings(1, 1);
  s.faults = std::vector<FaultRule>{pgrace::parse_fault_rule("drop_reply:commit")};
  try {
    pgrace::run_scenario(*server_, def.info, *scenario, s);
    FAIL() << "no error";
  } catch (const pgrace::SettingError& e) {
    EXPECT_EQ(e.code(), pgrace::ExitCode::usage);
    EXPECT_EQ(e.setting(), "faults");
    EXPECT_FALSE(e.knob());
    EXPECT_THAT(e.what(), HasSubstr("faults cannot reach transfer.lost_update_schedule: it is an interleave scenario"));
  }
}

// ---------------------------------------------------------- the program

std::string output_of(const RunResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

// While a run with faults lasts, its proxy's private directory is under
// PGRACE_TMPDIR; when it ends, it is gone, and so is the server's.
TEST(InjectedFaultsProgram, ARunWithFaultsLeavesNoProxyDirectory) {
  TempDir tmp;
  const fs::path report = tmp.path() / "report.json";
  Child child({pgrace_binary(), "run", kRetryAnyError, "--seed", "4", "--repeat", "3", "--report", report.string()},
              without_dsn({{"PGRACE_TMPDIR", tmp.path().string()}}));
  std::set<std::string> seen;
  std::optional<int> code;
  while (!(code = child.wait(std::chrono::milliseconds(5)))) {
    for (const auto& name : proxy_directories(tmp.path())) seen.insert(name);
  }
  EXPECT_EQ(*code, 0) << child.out() << child.err();
  EXPECT_EQ(seen.size(), 1u) << "the run's proxy directory was never seen under PGRACE_TMPDIR";
  // What is left: the report, the server log lines of the violating
  // scenario beside it, and the ephemeral servers' initdb cache (kept by design).
  std::set<std::string> left;
  for (const auto& entry : fs::directory_iterator(tmp.path()))
    if (entry.path().filename() != "pgrace-cache-" + std::to_string(server_uid())) left.insert(entry.path().filename());
  EXPECT_EQ(left, (std::set<std::string>{"report.json", "report.json.server.log"}));
  const nlohmann::json scenario = nlohmann::json::parse(read_text(report)).at("scenarios").at(0);
  EXPECT_GT(scenario.at("faults").at("drop_reply").get<long>(), 0);
  EXPECT_EQ(scenario.at("requests").at("repetition"), 1);
}

// --fault none: the naive service no longer violates (exit 1, FAIL: held),
// and the report says no faults were asked for or injected.
TEST(InjectedFaultsProgram, FaultNoneShowsTheViolationNeedsTheFault) {
  TempDir tmp;
  const fs::path report = tmp.path() / "report.json";
  const RunResult r = run_pgrace(
      {"run", kRetryAnyError, "--fault", "none", "--seed", "1", "--repeat", "2", "--report", report.string()},
      without_dsn({{"PGRACE_TMPDIR", tmp.path().string()}}));
  EXPECT_EQ(r.exit_code, 1) << output_of(r);
  EXPECT_THAT(r.out,
              HasSubstr("FAIL payment.retry_any_error: held (expected violation of \"each request charged once\")"));
  const nlohmann::json scenario = nlohmann::json::parse(read_text(report)).at("scenarios").at(0);
  EXPECT_EQ(scenario.at("config").at("faults"), nlohmann::json::array());
  EXPECT_EQ(scenario.at("faults"), nlohmann::json::object());
  EXPECT_TRUE(scenario.at("requests").is_null());
  EXPECT_EQ(scenario.at("outcomes"), nlohmann::json({{"committed", 2 * kChargesPerRepetition}}));
  EXPECT_TRUE(proxy_directories(tmp.path()).empty());
}

// --fault replaces the scenario's rules: here COMMIT replies only come
// late, so nothing is charged twice.
TEST(InjectedFaultsProgram, FaultReplacesTheScenariosRules) {
  TempDir tmp;
  const fs::path report = tmp.path() / "report.json";
  const RunResult r = run_pgrace(
      {"run", kRetryAnyError, "--fault", "delay_reply:commit:0.5:2ms", "--seed", "1", "--report", report.string()},
      without_dsn({{"PGRACE_TMPDIR", tmp.path().string()}}));
  EXPECT_EQ(r.exit_code, 1) << output_of(r);
  EXPECT_THAT(r.out, HasSubstr("FAIL payment.retry_any_error: held"));
  const nlohmann::json scenario = nlohmann::json::parse(read_text(report)).at("scenarios").at(0);
  EXPECT_EQ(scenario.at("config").at("faults"), nlohmann::json::array({"delay_reply:commit:0.5:2ms"}));
  EXPECT_GT(scenario.at("faults").at("delay_reply").get<long>(), 0);
  EXPECT_EQ(scenario.at("faults").count("drop_reply"), 0u);
}

}  // namespace
