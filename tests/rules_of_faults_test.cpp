// Unit tests of fault rules, without a server: how `--fault` is read
// (parse_fault_rule, validate, to_string in pgrace/faults.hpp) and how the
// rules apply to the requests the wire proxy frames (faults/rules.hpp):
// which requests are COMMITs, which a rule targets, where a seeded rule
// fires, and what a dropped connection means for the transaction.
//
// The invariants: a rule is accepted exactly when it is in range, and one
// that is not is refused naming the rule and the form; one seed and one
// request place always draw the same fault, and over many places a rule
// fires at its probability; a lost reply is called indeterminate only when
// the server ran something that may have committed.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "faults/gate.hpp"
#include "faults/rules.hpp"
#include "pgrace/error.hpp"
#include "pgrace/faults.hpp"
#include "pgrace/report.hpp"

namespace {

using pgrace::FaultKind;
using pgrace::FaultRule;
using pgrace::FaultTarget;
using pgrace::OutcomeClass;
using pgrace::detail::Fault;
using pgrace::detail::FaultPlace;
using pgrace::detail::WireRequest;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

// --------------------------------------------------------- parse_fault_rule

struct ValidRule {
  std::string text;
  FaultKind kind;
  FaultTarget target;
  double probability;
  std::chrono::milliseconds delay;
};

void PrintTo(const ValidRule& r, std::ostream* out) { *out << r.text; }

class ValidRules : public ::testing::TestWithParam<ValidRule> {};

TEST_P(ValidRules, ParseToTheirKindTargetProbabilityAndDelay) {
  const ValidRule& v = GetParam();
  const FaultRule rule = pgrace::parse_fault_rule(v.text);
  EXPECT_EQ(rule.kind, v.kind);
  EXPECT_EQ(rule.target, v.target);
  EXPECT_EQ(rule.probability, v.probability);
  EXPECT_EQ(rule.delay, v.delay);
}

// The form that to_string writes reads back to the same rule.
TEST_P(ValidRules, RoundTripThroughToString) {
  const FaultRule rule = pgrace::parse_fault_rule(GetParam().text);
  const std::string text = pgrace::to_string(rule);
  const FaultRule again = pgrace::parse_fault_rule(text);
  EXPECT_EQ(again.kind, rule.kind) << text;
  EXPECT_EQ(again.target, rule.target) << text;
  EXPECT_EQ(again.probability, rule.probability) << text;
  EXPECT_EQ(again.delay, rule.delay) << text;
  EXPECT_EQ(pgrace::to_string(again), text);
}

INSTANTIATE_TEST_SUITE_P(
    Forms, ValidRules,
    ::testing::Values(ValidRule{"drop_reply", FaultKind::drop_reply, FaultTarget::any, 1, 0ms},
                      ValidRule{"drop_reply:commit", FaultKind::drop_reply, FaultTarget::commit, 1, 0ms},
                      ValidRule{"drop_reply:any:0.3", FaultKind::drop_reply, FaultTarget::any, 0.3, 0ms},
                      ValidRule{"drop_reply:0.3:commit", FaultKind::drop_reply, FaultTarget::commit, 0.3, 0ms},
                      ValidRule{"drop_before_send:0.2", FaultKind::drop_before_send, FaultTarget::any, 0.2, 0ms},
                      ValidRule{"drop_before_send:commit:1", FaultKind::drop_before_send, FaultTarget::commit, 1, 0ms},
                      ValidRule{"delay_reply:20ms", FaultKind::delay_reply, FaultTarget::any, 1, 20ms},
                      ValidRule{"delay_reply:0.5:20ms", FaultKind::delay_reply, FaultTarget::any, 0.5, 20ms},
                      ValidRule{"delay_reply:20ms:commit:0.25", FaultKind::delay_reply, FaultTarget::commit, 0.25,
                                20ms},
                      ValidRule{"delay_reply:1ms", FaultKind::delay_reply, FaultTarget::any, 1, 1ms},
                      ValidRule{"delay_reply:60000ms", FaultKind::delay_reply, FaultTarget::any, 1, 60000ms},
                      ValidRule{"drop_reply:0.001", FaultKind::drop_reply, FaultTarget::any, 0.001, 0ms}),
    [](const ::testing::TestParamInfo<ValidRule>& info) {
      std::string name;
      for (char c : info.param.text) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return name;
    });

struct BadRule {
  std::string what;
  std::string text;
  std::string error;  // a part of the message
};

void PrintTo(const BadRule& r, std::ostream* out) { *out << r.what << " '" << r.text << "'"; }

class BadRules : public ::testing::TestWithParam<BadRule> {};

// A usage error (exit 2) on one line that names what is wrong.
TEST_P(BadRules, AreRefusedAsUsageErrorsNamingTheProblem) {
  const BadRule& b = GetParam();
  try {
    const FaultRule rule = pgrace::parse_fault_rule(b.text);
    FAIL() << "accepted as " << pgrace::to_string(rule);
  } catch (const pgrace::Error& e) {
    EXPECT_EQ(e.code(), pgrace::ExitCode::usage);
    EXPECT_THAT(e.what(), HasSubstr(b.error));
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
  }
}

const char* const kForm = "give KIND[:TARGET][:PROBABILITY][:DELAYms]";
const char* const kProbability = "the probability must be above 0 and at most 1";
const char* const kDelayRange = "delay_reply needs a delay of 1 to 60000 ms";

INSTANTIATE_TEST_SUITE_P(
    Errors, BadRules,
    ::testing::Values(
        BadRule{"unknown kind", "bogus", "--fault 'bogus': unknown fault kind; give KIND"},
        BadRule{"empty", "", "unknown fault kind"}, BadRule{"kind in capitals", "DROP_REPLY", "unknown fault kind"},
        BadRule{"target first", "commit:drop_reply", "unknown fault kind"},
        BadRule{"bad word", "drop_reply:sometimes", "cannot read 'sometimes' (or it is given twice); give KIND"},
        BadRule{"empty word", "drop_reply:", "cannot read ''"},
        BadRule{"two targets", "drop_reply:commit:any", "cannot read 'any' (or it is given twice)"},
        BadRule{"same target twice", "drop_reply:commit:commit", "cannot read 'commit' (or it is given twice)"},
        BadRule{"two probabilities", "drop_reply:0.2:0.3", "cannot read '0.3' (or it is given twice)"},
        BadRule{"two delays", "delay_reply:5ms:6ms", "cannot read '6ms' (or it is given twice)"},
        BadRule{"delay without digits", "delay_reply:ms", "cannot read 'ms'"},
        BadRule{"delay in seconds", "delay_reply:2s", "cannot read '2s'"},
        BadRule{"negative delay", "delay_reply:-5ms", "cannot read '-5ms'"},
        BadRule{"delay of ten digits", "delay_reply:1234567890ms", "cannot read '1234567890ms'"},
        BadRule{"probability with a unit", "drop_reply:0.3x", "cannot read '0.3x'"},
        BadRule{"probability 0", "drop_reply:0", kProbability},
        BadRule{"probability 1.5", "drop_reply:1.5", kProbability},
        BadRule{"probability -0.1", "drop_reply:-0.1", kProbability},
        BadRule{"probability nan", "drop_reply:nan", kProbability},
        BadRule{"probability inf", "drop_reply:inf", kProbability},
        BadRule{"delay_reply without a delay", "delay_reply", kDelayRange},
        BadRule{"delay_reply without a delay, with a target", "delay_reply:commit:0.5", kDelayRange},
        BadRule{"delay 0", "delay_reply:0ms", kDelayRange}, BadRule{"delay 60001", "delay_reply:60001ms", kDelayRange},
        BadRule{"delay on drop_reply", "drop_reply:20ms", "only delay_reply takes a delay"},
        BadRule{"delay on drop_before_send", "drop_before_send:commit:5ms", "only delay_reply takes a delay"},
        BadRule{"a zero delay on drop_reply", "drop_reply:0ms", "only delay_reply takes a delay"}),
    [](const ::testing::TestParamInfo<BadRule>& info) {
      std::string name;
      for (char c : info.param.what) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return name;
    });

// The form is named in the message of every reading error.
TEST(FaultRuleText, ReadingErrorsNameTheForm) {
  for (const char* text : {"bogus", "drop_reply:sometimes", "drop_reply:commit:any"}) {
    try {
      pgrace::parse_fault_rule(text);
      ADD_FAILURE() << text << " was accepted";
    } catch (const pgrace::Error& e) {
      EXPECT_THAT(e.what(), HasSubstr(kForm)) << text;
      EXPECT_THAT(e.what(), HasSubstr("KIND drop_before_send, drop_reply or delay_reply; TARGET any or commit"));
    }
  }
}

// validate() on rules built in C++ (Knobs::faults), which skip the parser.
TEST(FaultRuleText, ValidateRefusesRulesBuiltOutOfRange) {
  const auto refused = [](const FaultRule& rule, const std::string& error) {
    try {
      pgrace::validate(rule);
      ADD_FAILURE() << pgrace::to_string(rule) << " passed";
    } catch (const pgrace::Error& e) {
      EXPECT_EQ(e.code(), pgrace::ExitCode::usage);
      EXPECT_THAT(e.what(), HasSubstr(error));
      EXPECT_THAT(e.what(), HasSubstr("fault " + pgrace::to_string(rule) + ":"));
    }
  };
  refused({FaultKind::drop_reply, FaultTarget::commit, 0, 0ms}, kProbability);
  refused({FaultKind::drop_reply, FaultTarget::commit, std::numeric_limits<double>::quiet_NaN(), 0ms}, kProbability);
  refused({FaultKind::drop_before_send, FaultTarget::any, 2, 0ms}, kProbability);
  refused({FaultKind::delay_reply, FaultTarget::any, 1, 0ms}, kDelayRange);
  refused({FaultKind::delay_reply, FaultTarget::any, 1, -5ms}, kDelayRange);
  refused({FaultKind::delay_reply, FaultTarget::any, 1, 60001ms}, kDelayRange);
  refused({FaultKind::drop_before_send, FaultTarget::any, 1, 3ms}, "only delay_reply takes a delay");
  EXPECT_NO_THROW(pgrace::validate({FaultKind::drop_reply, FaultTarget::commit, 0.3, 0ms}));
  EXPECT_NO_THROW(pgrace::validate({FaultKind::delay_reply, FaultTarget::any, 1e-9, 60000ms}));
}

TEST(FaultRuleText, ToStringWritesEveryPart) {
  EXPECT_STREQ(pgrace::to_string(FaultKind::drop_before_send), "drop_before_send");
  EXPECT_STREQ(pgrace::to_string(FaultKind::drop_reply), "drop_reply");
  EXPECT_STREQ(pgrace::to_string(FaultKind::delay_reply), "delay_reply");
  EXPECT_EQ(pgrace::to_string(FaultRule{FaultKind::drop_reply, FaultTarget::commit, 0.3, 0ms}),
            "drop_reply:commit:0.3");
  EXPECT_EQ(pgrace::to_string(FaultRule{FaultKind::drop_before_send, FaultTarget::any, 1, 0ms}),
            "drop_before_send:any:1");
  EXPECT_EQ(pgrace::to_string(FaultRule{FaultKind::delay_reply, FaultTarget::any, 0.5, 20ms}),
            "delay_reply:any:0.5:20ms");
}

// ------------------------------------------------------------- is_commit

TEST(IsCommit, FindsACommitOrEndAmongTheStatements) {
  using pgrace::detail::is_commit;
  for (const char* sql : {"COMMIT", "commit", "Commit;", " END;", "\n\tcommit  ", "END", "end transaction",
                          "COMMIT WORK", "COMMIT AND CHAIN", "commit prepared 'x'", "BEGIN; UPDATE t SET x = 1; COMMIT",
                          "COMMIT; BEGIN", "SELECT 1;;commit"})
    EXPECT_TRUE(is_commit(sql)) << sql;
  for (const char* sql : {"", ";", "SELECT 'commit'", "ROLLBACK", "abort", "BEGIN", "UPDATE t SET x = 1",
                          "SELECT 1; SELECT 2", "INSERT INTO commits VALUES (1)", "COMMITS", "ENDING",
                          "PREPARE TRANSACTION 'x'", "SELECT commit FROM t", "1COMMIT"})
    EXPECT_FALSE(is_commit(sql)) << sql;
}

// A statement is split at each ';' outside strings, quoted identifiers,
// dollar-quoted bodies and comments; a COMMIT or END counts only alone or
// with its own options, and comments before it or between its words are
// blanks.
TEST(IsCommit, OnlyACommitWithItsOwnOptionsCounts) {
  using pgrace::detail::is_commit;
  EXPECT_FALSE(is_commit("SELECT 'a; commit'")) << "a quote follows the keyword";
  EXPECT_FALSE(is_commit("INSERT INTO t VALUES ('x;END')"));
  EXPECT_FALSE(is_commit("DO $$BEGIN UPDATE t SET x = 1; END$$")) << "the END of a DO block";
  EXPECT_FALSE(is_commit("DO $$BEGIN UPDATE t SET x = 1; END $$")) << "the END of a DO block";
  EXPECT_FALSE(is_commit("commit_ts")) << "'_' follows the keyword";
  EXPECT_FALSE(is_commit("END IF")) << "not one of END's options";
  EXPECT_TRUE(is_commit("END WORK"));
  EXPECT_TRUE(is_commit("COMMIT AND NO CHAIN"));
}

// The cases: a ';' inside a string literal split the statement
// there, so "SELECT ';'; COMMIT"-like text was read wrongly, and a comment
// before COMMIT hid it.
TEST(IsCommit, QuotesAndCommentsAreReadAsPostgresqlReadsThem) {
  using pgrace::detail::is_commit;
  EXPECT_FALSE(is_commit("SELECT ';'; SELECT 1"));
  EXPECT_TRUE(is_commit("SELECT ';'; COMMIT"));
  EXPECT_FALSE(is_commit("SELECT '; COMMIT'")) << "COMMIT inside a string";
  EXPECT_FALSE(is_commit("SELECT 'it''s; COMMIT'")) << "a doubled quote does not end the string";
  EXPECT_FALSE(is_commit("SELECT E'\\'; COMMIT'")) << "an escaped quote does not end an E'' string";
  EXPECT_TRUE(is_commit("SELECT E'\\\\'; COMMIT")) << "an escaped backslash does";
  EXPECT_FALSE(is_commit("SELECT \"a;COMMIT\" FROM t")) << "a quoted identifier";
  EXPECT_FALSE(is_commit("SELECT $$; COMMIT$$")) << "a dollar-quoted string";
  EXPECT_FALSE(is_commit("SELECT $f$ $$; COMMIT $$ $f$")) << "a tagged dollar quote ends only at its tag";
  EXPECT_TRUE(is_commit("SELECT $f$;$f$; COMMIT"));
  EXPECT_TRUE(is_commit("SELECT $1; COMMIT")) << "a parameter is no dollar quote";
  EXPECT_TRUE(is_commit("/* c */ COMMIT"));
  EXPECT_TRUE(is_commit("-- c\nCOMMIT"));
  EXPECT_TRUE(is_commit("/* a /* nested */ comment; */ COMMIT"));
  EXPECT_TRUE(is_commit("COMMIT /* c */ AND -- c\n CHAIN"));
  EXPECT_TRUE(is_commit("UPDATE t SET x = 1; -- done\nCOMMIT"));
  EXPECT_FALSE(is_commit("-- COMMIT")) << "a comment";
  EXPECT_FALSE(is_commit("/* COMMIT; */ SELECT 1"));
  EXPECT_FALSE(is_commit("SELECT 1 -- ; COMMIT")) << "a ';' in a comment splits nothing";
}

// ---------------------------------------------------------------- targets

WireRequest request(std::string sql, bool executes = true) {
  WireRequest r;
  r.client = "pgrace-worker-0";
  r.sql = std::move(sql);
  r.executes = executes;
  return r;
}

TEST(FaultTargets, AnyTargetsEveryExecutingRequestAndCommitOnlyCommits) {
  using pgrace::detail::targets;
  const FaultRule any{FaultKind::drop_reply, FaultTarget::any, 1, 0ms};
  const FaultRule commit{FaultKind::drop_reply, FaultTarget::commit, 1, 0ms};
  for (const char* sql : {"BEGIN", "UPDATE t SET x = 1", "COMMIT", "", "SELECT 'commit'"})
    EXPECT_TRUE(targets(any, request(sql))) << sql;
  EXPECT_TRUE(targets(commit, request("COMMIT")));
  EXPECT_TRUE(targets(commit, request("end")));
  EXPECT_TRUE(targets(commit, request("BEGIN; INSERT INTO t VALUES (1); COMMIT")));
  EXPECT_FALSE(targets(commit, request("BEGIN")));
  EXPECT_FALSE(targets(commit, request("UPDATE t SET x = 1")));
  EXPECT_FALSE(targets(commit, request("ROLLBACK")));
  // libpq preparing a statement (Parse/Describe/Sync) executes nothing: never a target.
  EXPECT_FALSE(targets(any, request("SELECT 1", false)));
  EXPECT_FALSE(targets(commit, request("COMMIT", false)));
}

// ------------------------------------------------------------- draw_fault

const FaultRule kDrop30{FaultKind::drop_reply, FaultTarget::any, 0.3, 0ms};

// Whether `rules` fire at every place of a grid: a fingerprint of a seed's draws.
std::vector<bool> fires(const std::vector<FaultRule>& rules, std::uint64_t seed, const WireRequest& r) {
  std::vector<bool> out;
  for (int worker = 0; worker < 4; ++worker)
    for (long iteration = 0; iteration < 25; ++iteration)
      for (int rank = 0; rank < 5; ++rank)
        out.push_back(pgrace::detail::draw_fault(rules, seed, {worker, iteration, rank}, r).has_value());
  return out;
}

TEST(DrawFault, TheSameSeedAndPlaceDrawTheSameFault) {
  const WireRequest r = request("COMMIT");
  EXPECT_EQ(fires({kDrop30}, 42, r), fires({kDrop30}, 42, r));
  // The draw depends on the place only, not on the request's text.
  EXPECT_EQ(fires({kDrop30}, 42, r), fires({kDrop30}, 42, request("UPDATE t SET x = 1")));
}

TEST(DrawFault, OtherSeedsDrawOtherFaults) {
  const WireRequest r = request("COMMIT");
  const auto first = fires({kDrop30}, 1, r);
  for (std::uint64_t seed : {2ULL, 3ULL, 20261127ULL, ~0ULL}) EXPECT_NE(fires({kDrop30}, seed, r), first) << seed;
}

// Each coordinate of the place takes part in the draw.
TEST(DrawFault, EveryPartOfThePlaceCounts) {
  const WireRequest r = request("COMMIT");
  const auto differs = [&](auto place_of) {
    int different = 0;
    for (int i = 0; i < 200; ++i)
      different += pgrace::detail::draw_fault({kDrop30}, 7, place_of(i, 0), r).has_value() !=
                   pgrace::detail::draw_fault({kDrop30}, 7, place_of(i, 1), r).has_value();
    return different;
  };
  EXPECT_GT(differs([](int i, int d) { return FaultPlace{d, i, 0}; }), 20) << "worker";
  EXPECT_GT(differs([](int i, int d) { return FaultPlace{0, i + 1000L * d, 0}; }), 20) << "iteration";
  EXPECT_GT(differs([](int i, int d) { return FaultPlace{0, i, d}; }), 20) << "rank";
  EXPECT_GT(differs([](int i, int d) { return FaultPlace{0, i, 0, d}; }), 20) << "repetition";
}

TEST(DrawFault, ProbabilityOneAlwaysFires) {
  const FaultRule always{FaultKind::drop_before_send, FaultTarget::commit, 1, 0ms};
  const WireRequest r = request("COMMIT");
  for (std::uint64_t seed : {0ULL, 1ULL, ~0ULL})
    for (const bool fired : fires({always}, seed, r)) ASSERT_TRUE(fired) << seed;
  // ... but never at a request it does not target.
  for (const bool fired : fires({always}, 0, request("UPDATE t SET x = 1"))) ASSERT_FALSE(fired);
}

// 10000 draws at p: the count of fires is binomial, sd = sqrt(10000 p (1-p))
// = 46 at p 0.3; the window of 6.5 sd each way (2700..3300 at p 0.3) fails
// a fair draw with a chance below 1e-10, and the draws are a fixed function
// of the seeds below, so this cannot flake.
TEST(DrawFault, FiresAtItsProbabilityOverManyPlaces) {
  const WireRequest r = request("COMMIT");
  for (const double p : {0.05, 0.3, 0.9}) {
    const FaultRule rule{FaultKind::drop_reply, FaultTarget::commit, p, 0ms};
    for (std::uint64_t seed : {1ULL, 20261127ULL}) {
      int fired = 0;
      for (int worker = 0; worker < 10; ++worker)
        for (long iteration = 0; iteration < 100; ++iteration)
          for (int rank = 0; rank < 10; ++rank)
            fired += pgrace::detail::draw_fault({rule}, seed, {worker, iteration, rank}, r).has_value();
      const double sd = std::sqrt(10000 * p * (1 - p));
      EXPECT_NEAR(fired, 10000 * p, 6.5 * sd) << "p " << p << " seed " << seed;
    }
  }
}

// Rules are tried in order; the first that fires wins, and a later rule
// draws independently of an earlier one (its index is part of the draw).
TEST(DrawFault, TheFirstRuleThatFiresWins) {
  const WireRequest commit = request("COMMIT");
  const FaultRule drop_all{FaultKind::drop_before_send, FaultTarget::commit, 1, 0ms};
  const FaultRule delay_all{FaultKind::delay_reply, FaultTarget::any, 1, 5ms};
  const auto first = pgrace::detail::draw_fault({drop_all, delay_all}, 3, {0, 0, 0}, commit);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->kind, FaultKind::drop_before_send);
  // A request the first rule does not target gets the second.
  const auto second = pgrace::detail::draw_fault({drop_all, delay_all}, 3, {0, 0, 0}, request("BEGIN"));
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->kind, FaultKind::delay_reply);
  EXPECT_EQ(second->delay, 5ms);
  // Two rules at 0.5: the second fires where the first did not about half the time.
  const FaultRule half_drop{FaultKind::drop_reply, FaultTarget::any, 0.5, 0ms};
  const FaultRule half_delay{FaultKind::delay_reply, FaultTarget::any, 0.5, 5ms};
  int drops = 0, delays = 0, none = 0;
  for (long iteration = 0; iteration < 4000; ++iteration) {
    const auto f = pgrace::detail::draw_fault({half_drop, half_delay}, 11, {1, iteration, 2}, commit);
    if (!f)
      ++none;
    else if (f->kind == FaultKind::drop_reply)
      ++drops;
    else
      ++delays;
  }
  // Expected 2000, 1000, 1000; sd at most 32: 8 sd windows.
  EXPECT_NEAR(drops, 2000, 260);
  EXPECT_NEAR(delays, 1000, 220);
  EXPECT_NEAR(none, 1000, 220);
}

TEST(DrawFault, NoRulesNoFault) {
  EXPECT_FALSE(pgrace::detail::draw_fault({}, 1, {0, 0, 0}, request("COMMIT")).has_value());
}

// ---------------------------------------------------------------- fault_of

TEST(FaultOf, MapsEachRuleToTheProxysFault) {
  for (FaultKind kind : {FaultKind::drop_before_send, FaultKind::drop_reply, FaultKind::delay_reply}) {
    const FaultRule rule{kind, FaultTarget::any, 1, kind == FaultKind::delay_reply ? 25ms : 0ms};
    const Fault fault = pgrace::detail::fault_of(rule);
    EXPECT_EQ(fault.kind, kind);
    EXPECT_EQ(fault.delay, rule.delay);
  }
  EXPECT_EQ(Fault{}.kind, std::nullopt);
}

// -------------------------------------------------------- dropped_outcome

// A request the proxy recorded for a connection it dropped.
WireRequest dropped(std::string sql, FaultKind fault, bool completed, char status) {
  WireRequest r = request(std::move(sql));
  r.fault = fault;
  r.completed = completed;
  r.status = status;
  return r;
}

struct DropCase {
  std::string what;
  WireRequest lost;
  OutcomeClass outcome;
};

void PrintTo(const DropCase& c, std::ostream* out) { *out << c.what; }

class DroppedOutcome : public ::testing::TestWithParam<DropCase> {};

TEST_P(DroppedOutcome, IsIndeterminateOnlyWhenItMayHaveCommitted) {
  const DropCase& c = GetParam();
  const pgrace::Outcome outcome = pgrace::detail::dropped_outcome(c.lost);
  EXPECT_EQ(outcome.kind, c.outcome) << pgrace::to_string(outcome.kind) << ": " << outcome.message;
  EXPECT_EQ(outcome.sqlstate, "08006");
  EXPECT_THAT(outcome.message, HasSubstr("'" + c.lost.sql + "'"));
  EXPECT_THAT(outcome.message, HasSubstr(c.outcome == OutcomeClass::indeterminate ? "it may have committed"
                                                                                  : "the transaction did not commit"));
}

constexpr auto kDropReply = FaultKind::drop_reply;
constexpr auto kDropBefore = FaultKind::drop_before_send;

INSTANTIATE_TEST_SUITE_P(
    Cases, DroppedOutcome,
    ::testing::Values(
        DropCase{"lost COMMIT reply", dropped("COMMIT", kDropReply, true, 'I'), OutcomeClass::indeterminate},
        DropCase{"lost END reply", dropped("end", kDropReply, true, 'I'), OutcomeClass::indeterminate},
        DropCase{"lost reply of a whole transaction in one query",
                 dropped("BEGIN; UPDATE t SET x = 1; COMMIT", kDropReply, true, 'I'), OutcomeClass::indeterminate},
        DropCase{"lost reply of an autocommit statement", dropped("UPDATE t SET x = 1", kDropReply, true, 'I'),
                 OutcomeClass::indeterminate},
        DropCase{"lost COMMIT AND CHAIN reply", dropped("COMMIT AND CHAIN", kDropReply, true, 'T'),
                 OutcomeClass::indeterminate},
        DropCase{"lost reply of a COMMIT and the next BEGIN", dropped("COMMIT; BEGIN", kDropReply, true, 'T'),
                 OutcomeClass::indeterminate},
        DropCase{"COMMIT sent, connection ended before any reply", dropped("COMMIT", kDropReply, false, 0),
                 OutcomeClass::indeterminate},
        DropCase{"UPDATE in a transaction sent, connection ended before any reply",
                 dropped("UPDATE t SET x = 1", kDropReply, false, 0), OutcomeClass::connection_dropped},
        DropCase{"lost ROLLBACK reply", dropped("ROLLBACK", kDropReply, true, 'I'), OutcomeClass::connection_dropped},
        DropCase{"lost ABORT reply", dropped("abort", kDropReply, true, 'I'), OutcomeClass::connection_dropped},
        DropCase{"lost reply of a transaction that rolled back",
                 dropped("BEGIN; UPDATE t SET x = 1; ROLLBACK", kDropReply, true, 'I'),
                 OutcomeClass::connection_dropped},
        DropCase{"COMMIT never sent", dropped("COMMIT", kDropBefore, false, 0), OutcomeClass::connection_dropped},
        DropCase{"autocommit statement never sent", dropped("UPDATE t SET x = 1", kDropBefore, false, 0),
                 OutcomeClass::connection_dropped},
        DropCase{"lost reply of an UPDATE inside a transaction", dropped("UPDATE t SET x = 1", kDropReply, true, 'T'),
                 OutcomeClass::connection_dropped},
        DropCase{"lost reply of BEGIN", dropped("BEGIN", kDropReply, true, 'T'), OutcomeClass::connection_dropped},
        DropCase{"lost reply inside a failed transaction", dropped("UPDATE t SET x = 1/0", kDropReply, true, 'E'),
                 OutcomeClass::connection_dropped}),
    [](const ::testing::TestParamInfo<DropCase>& info) {
      std::string name;
      for (char c : info.param.what) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return name;
    });

// ------------------------------------------------------------- FaultGate

// The COMMIT of each iteration gets the same fault whether or not an
// attempt that a serialization failure ended (BEGIN, UPDATE, ROLLBACK) came
// first: only the requests a rule targets are ranked, so the requests that
// timing adds do not move a COMMIT's place. (Every request was ranked: about
// half of the COMMITs changed their fault, and so the count of faults.)
TEST(FaultGate, RequestsThatTimingAddsDoNotMoveTheFaultsOfTheCommits) {
  const auto commits_faulted = [](bool failed_attempt_first) {
    pgrace::detail::FaultGate gate({{FaultKind::drop_reply, FaultTarget::commit, 0.5, 0ms}}, 7, 1);
    std::vector<bool> faulted;
    for (long i = 0; i < 200; ++i) {
      gate.begin_iteration(0, 0, i);
      std::vector<std::string> sqls = {"BEGIN", "UPDATE t SET x = 1", "COMMIT"};
      if (failed_attempt_first) sqls.insert(sqls.begin(), {"BEGIN", "UPDATE t SET x = 1", "ROLLBACK"});
      for (const std::string& sql : sqls) {
        const Fault fault = gate.before_request(request(sql));
        if (sql == "COMMIT") faulted.push_back(fault.kind == FaultKind::drop_reply);
      }
    }
    return faulted;
  };
  const std::vector<bool> plain = commits_faulted(false);
  EXPECT_EQ(commits_faulted(true), plain);
  EXPECT_GT(std::count(plain.begin(), plain.end(), true), 60);
  EXPECT_LT(std::count(plain.begin(), plain.end(), true), 140);
}

}  // namespace

// The text of a rule reads back as the same rule, its probability to 15 digits.
TEST(FaultRuleText, AProbabilityKeepsItsDigits) {
  const FaultRule rule = pgrace::parse_fault_rule("drop_reply:0.1234567");
  EXPECT_EQ(pgrace::to_string(rule), "drop_reply:any:0.1234567");
  EXPECT_EQ(pgrace::parse_fault_rule(pgrace::to_string(rule)).probability, rule.probability);
}

// The reproducer command reruns the run's faults; with the scenario's own
// rules turned off it says so.
TEST(FaultRuleText, TheReproducerCommandCarriesTheFaults) {
  pgrace::ScenarioResult r;
  r.info.name = "test.faulted";
  r.knobs.faults = {pgrace::parse_fault_rule("drop_reply:commit:0.3")};
  pgrace::RunReport report;
  report.program = "pgrace";
  EXPECT_THAT(pgrace::reproducer_command(report, r), HasSubstr(" --fault drop_reply:commit:0.3"));
  r.info.defaults.faults = r.knobs.faults;
  r.knobs.faults.clear();
  EXPECT_THAT(pgrace::reproducer_command(report, r), HasSubstr(" --fault none"));
  r.info.defaults.faults.clear();
  EXPECT_THAT(pgrace::reproducer_command(report, r), ::testing::Not(HasSubstr("--fault")));
}
