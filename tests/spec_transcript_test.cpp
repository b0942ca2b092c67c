// Unit tests of the isolation tester transcript (spec/transcript.hpp); no
// server.
//
// What these tests check: fed the events of a run, the transcript is byte for
// byte the text PostgreSQL 15's isolationtester printed for the same run.
// The references tests/specs/every_line.out and setup_fails.out were made by
// running that isolationtester (stdout and stderr together, as
// pg_isolation_regress records them) on pgrace's own every_line.spec and
// setup_fails.spec; the events below are what happened in those runs. Each
// event kind is also checked alone: result tables (alignment by PQprint's
// numeric test, byte widths, NULLs, no columns, row counts), errors with and
// without severity, notices, waiting and completion lines, setup and
// teardown failures, and the events that cannot happen.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

#include "spec/spec.hpp"
#include "spec/transcript.hpp"
#include "test_support.hpp"

namespace {

using namespace pgrace::spec;
namespace ev = pgrace::spec::event;
using pgrace::test::read_text;
using pgrace::test::specs_dir;

ResultSet accounts_count() { return {{"accounts"}, {{"3"}}}; }
ResultSet accounts() {
  return {{"id", "owner", "balance"}, {{"1", "alice", "100"}, {"2", "bob", ""}, {"10", "Zoë", "-2.5"}}};
}
ResultSet alice_done() { return {{"status"}, {{"alice done"}}}; }
const char* const kNotice = "NOTICE:  audit 3 rows\nHINT:  none\n";
const char* const kTeardownError =
    "ERROR:  column \"missing\" does not exist\nLINE 1: SELECT missing FROM accounts;\n               ^\n";

std::vector<Event> every_line_run() {
  const ev::BlockFailed bob_teardown{Block::session_teardown, "bob's", kTeardownError};
  return {
      ev::PermutationStarted{{"a_read", "a_lock", "b_pay", "a_fail", "a_commit", "b_notice", "b_two", "b_empty"}},
      ev::BlockRows{accounts_count()},
      ev::StepCompleted{"a_read", {accounts()}},
      ev::StepCompleted{"a_lock", {}},
      ev::StepWaiting{"b_pay"},
      ev::StepCompleted{"a_fail", {SqlError{"ERROR", "division by zero"}}},
      ev::StepCompleted{"b_pay", {ResultSet{{"id", "balance"}, {{"1", "110"}}}}},
      ev::StepCompleted{"a_commit", {}},
      ev::Notice{"bob's", kNotice},
      ev::StepCompleted{"b_notice", {}},
      ev::StepCompleted{
          "b_two", {ResultSet{{"one"}, {{"1"}}}, ResultSet{{}, {{}}}, ResultSet{{"empty", "nothing"}, {{"", ""}}}}},
      ev::StepCompleted{"b_empty", {}},
      ev::BlockRows{alice_done()},
      bob_teardown,

      ev::PermutationStarted{{"a_read", "b_notice", "a_commit"}},
      ev::BlockRows{accounts_count()},
      ev::StepCompleted{"a_read", {accounts()}},
      ev::StepWaiting{"b_notice"},  // marked (*)
      ev::StepCompleted{"a_commit", {}},
      ev::Notice{"bob's", kNotice},
      ev::StepCompleted{"b_notice", {}},
      ev::BlockRows{alice_done()},
      bob_teardown,

      ev::PermutationStarted{{"a_lock", "b_pay", "a_commit"}},
      ev::BlockRows{accounts_count()},
      ev::StepCompleted{"a_lock", {}},
      ev::StepWaiting{"b_pay"},
      ev::StepWaiting{"a_commit"},  // marked (b_pay): held while b_pay runs
      ev::StepCompleted{"b_pay", {ResultSet{{"id", "balance"}, {{"1", "100"}}}}},
      ev::StepCompleted{"a_commit", {}},
      ev::BlockRows{alice_done()},
      bob_teardown,

      ev::PermutationStarted{{"a_insert", "b_insert", "a_commit"}},
      ev::BlockRows{accounts_count()},
      ev::StepCompleted{"a_insert", {}},
      ev::StepWaiting{"b_insert"},
      ev::StepCompleted{"a_commit", {}},
      ev::StepCompleted{"b_insert",
                        {SqlError{"ERROR", "duplicate key value violates unique constraint \"accounts_pkey\""}}},
      ev::BlockRows{alice_done()},
      bob_teardown,
  };
}

TEST(SpecTranscript, EqualsTheRealTestersOutputForEveryKindOfLine) {
  const Spec spec = load_spec(specs_dir().string() + "/every_line.spec");
  Transcript transcript(spec);
  for (const Event& event : every_line_run()) transcript.record(event);
  EXPECT_EQ(transcript.text(), read_text(specs_dir().string() + "/every_line.out"));
}

TEST(SpecTranscript, EqualsTheRealTestersOutputWhenSetupFails) {
  const Spec spec = load_spec(specs_dir().string() + "/setup_fails.spec");
  Transcript transcript(spec);
  transcript.record(ev::PermutationStarted{{"s_one", "s_two"}});
  transcript.record(ev::BlockRows{{{"ready"}, {{"1"}}}});
  transcript.record(ev::BlockFailed{
      Block::setup, "",
      "ERROR:  syntax error at or near \";\"\nLINE 1: CREATE TABLE broken (;\n                             ^\n"});
  EXPECT_EQ(transcript.text(), read_text(specs_dir().string() + "/setup_fails.out"));
}

// The expected texts are what isolationtester 15 printed for these specs.
TEST(SpecTranscript, EqualsTheRealTestersOutputWhenASessionSetupFails) {
  const Spec spec = parse_spec(
      "teardown { SELECT 1/0; }\nsession s\nsetup { SELECT 7 AS seven; }\nstep a { SELECT 1 AS one; }\n"
      "session t\nsetup { SELECT nope; }\nstep b { SELECT 2; }\npermutation a b\n",
      "f.spec");
  Transcript t(spec);
  t.record(ev::PermutationStarted{{"a", "b"}});
  t.record(ev::BlockRows{{{"seven"}, {{"7"}}}});
  t.record(ev::BlockFailed{Block::session_setup, "t",
                           "ERROR:  column \"nope\" does not exist\nLINE 1: SELECT nope;\n               ^\n"});
  EXPECT_EQ(t.text(),
            "Parsed test spec with 2 sessions\n\nstarting permutation: a b\nseven\n-----\n    7\n(1 row)\n\n"
            "setup of session t failed: ERROR:  column \"nope\" does not exist\nLINE 1: SELECT nope;\n"
            "               ^\n");
}

TEST(SpecTranscript, EqualsTheRealTestersOutputWhenTheTeardownFails) {
  const Spec spec = parse_spec(
      "teardown { SELECT 1/0; }\nsession s\nsetup { SELECT 7 AS seven; }\nstep a { SELECT 1 AS one; }\n"
      "permutation a\n",
      "f.spec");
  Transcript t(spec);
  t.record(ev::PermutationStarted{{"a"}});
  t.record(ev::BlockRows{{{"seven"}, {{"7"}}}});
  t.record(ev::StepCompleted{"a", {ResultSet{{"one"}, {{"1"}}}}});
  t.record(ev::BlockFailed{Block::teardown, "", "ERROR:  division by zero\n"});
  EXPECT_EQ(t.text(),
            "Parsed test spec with 1 sessions\n\nstarting permutation: a\nseven\n-----\n    7\n(1 row)\n\n"
            "step a: SELECT 1 AS one;\none\n---\n  1\n(1 row)\n\nteardown failed: ERROR:  division by zero\n");
}

const char* const kTwoSessions = "session s1 step a { SELECT 1; } step w { UPDATE t SET v = 1; } session s2 step b { }";

TEST(SpecTranscript, HeaderCountsSessions) {
  const Spec spec = parse_spec(kTwoSessions, "t.spec");
  EXPECT_EQ(Transcript(spec).text(), "Parsed test spec with 2 sessions\n");
}

TEST(SpecTranscript, HeaderWarnsAboutUnusedStepsFirst) {
  const Spec spec = parse_spec(std::string(kTwoSessions) + " permutation b", "t.spec");
  EXPECT_EQ(Transcript(spec).text(), "unused step name: a\nunused step name: w\nParsed test spec with 2 sessions\n");
}

TEST(SpecTranscript, EachEventKindPrintsItsLine) {
  const Spec spec = parse_spec(kTwoSessions, "t.spec");
  Transcript t(spec);
  EXPECT_EQ(t.record(ev::PermutationStarted{{"a", "w", "b"}}), "\nstarting permutation: a w b\n");
  EXPECT_EQ(t.record(ev::StepCompleted{"a", {}}), "step a: SELECT 1;\n");
  EXPECT_EQ(t.record(ev::StepWaiting{"w"}), "step w: UPDATE t SET v = 1; <waiting ...>\n");
  EXPECT_EQ(t.record(ev::StepCompleted{"b", {}}), "step b: \n");
  EXPECT_EQ(t.record(ev::StepCompleted{"w", {SqlError{"ERROR", "deadlock detected"}}}),
            "step w: <... completed>\nERROR:  deadlock detected\n");
  // Completed once, the step is no longer waiting: its next run prints its SQL.
  EXPECT_EQ(t.record(ev::StepCompleted{"w", {}}), "step w: UPDATE t SET v = 1;\n");
  EXPECT_EQ(t.record(ev::StepCompleted{"a", {SqlError{"", "server closed the connection unexpectedly\n"}}}),
            "step a: SELECT 1;\nserver closed the connection unexpectedly\n\n");
  EXPECT_EQ(t.record(ev::Notice{"s2", "WARNING:  careful\n"}), "s2: WARNING:  careful\n");
  EXPECT_EQ(t.record(ev::BlockRows{{{"x"}, {}}}), "x\n-\n(0 rows)\n\n");
  EXPECT_EQ(t.record(ev::BlockFailed{Block::setup, "", "ERROR:  a\n"}), "setup failed: ERROR:  a\n");
  EXPECT_EQ(t.record(ev::BlockFailed{Block::session_setup, "s1", "ERROR:  b\n"}),
            "setup of session s1 failed: ERROR:  b\n");
  EXPECT_EQ(t.record(ev::BlockFailed{Block::session_teardown, "s2", "ERROR:  c\n"}),
            "teardown of session s2 failed: ERROR:  c\n");
  EXPECT_EQ(t.record(ev::BlockFailed{Block::teardown, "", "ERROR:  d\n"}), "teardown failed: ERROR:  d\n");
  EXPECT_EQ(t.record(ev::SendFailed{"b", "no connection to the server\n"}),
            "failed to send query for step b: no connection to the server\n\n");
  EXPECT_EQ(t.record(ev::InputFailed{"server closed the connection unexpectedly\n"}),
            "PQconsumeInput failed: server closed the connection unexpectedly\n\n");
  EXPECT_EQ(t.text().rfind("Parsed test spec with 2 sessions\n\nstarting permutation: a w b\nstep a:", 0), 0u);
}

TEST(SpecTranscript, EventsThatCannotHappenAreLogicErrors) {
  const Spec spec = parse_spec(kTwoSessions, "t.spec");
  Transcript t(spec);
  EXPECT_THROW(t.record(ev::StepCompleted{"nope", {}}), std::logic_error);
  EXPECT_THROW(t.record(ev::StepWaiting{"nope"}), std::logic_error);
  t.record(ev::StepWaiting{"w"});
  EXPECT_THROW(t.record(ev::StepWaiting{"w"}), std::logic_error);
  EXPECT_THROW(t.record(ev::PermutationStarted{{"a"}}), std::logic_error);
}

TEST(SpecResultTable, NoColumnsPrintNothing) {
  EXPECT_EQ(format_result_set({{}, {}}), "");
  EXPECT_EQ(format_result_set({{}, {{}}}), "");
}

TEST(SpecResultTable, RowCountIsSingularForOne) {
  EXPECT_EQ(format_result_set({{"a"}, {{"x"}}}), "a\n-\nx\n(1 row)\n\n");
  EXPECT_EQ(format_result_set({{"a"}, {{"x"}, {"y"}}}), "a\n-\nx\ny\n(2 rows)\n\n");
  EXPECT_EQ(format_result_set({{"a", "b"}, {}}), "a|b\n-+-\n(0 rows)\n\n");
}

// Expected text printed by isolationtester 15 for
//   SELECT * FROM (VALUES ('1', 'e5', '-', '1 2', '.5', '5.', 'E', NULL, '', 'E5', '1e-5'),
//                         ('22', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12')) x(a,b,c,d,e,f,g,h,i,j,k);
TEST(SpecResultTable, AlignsColumnsByPQprintsNumericTest) {
  const ResultSet result{{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"},
                         {{"1", "e5", "-", "1 2", ".5", "5.", "E", "", "", "E5", "1e-5"},
                          {"22", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"}}};
  EXPECT_EQ(format_result_set(result),
            " a|b |c|  d| e|f |g|h| i|j |   k\n"
            "--+--+-+---+--+--+-+-+--+--+----\n"
            " 1|e5|-|1 2|.5|5.|E| |  |E5|1e-5\n"
            "22|3 |4|  5| 6|7 |8|9|10|11|  12\n"
            "(2 rows)\n\n");
}

TEST(SpecResultTable, WidthsCountBytesAndLongHeadersWiden) {
  // "é" is two bytes; a multi-line value is one field of its byte length.
  const ResultSet result{{"m", "u", "a longer header"}, {{"multi\nline", "é", "x"}}};
  EXPECT_EQ(format_result_set(result),
            "m         |u |a longer header\n"
            "----------+--+---------------\n"
            "multi\nline|é|x              \n"
            "(1 row)\n\n");
}

TEST(SpecResultTable, RowOfTheWrongWidthIsALogicError) {
  EXPECT_THROW(format_result_set({{"a", "b"}, {{"1"}}}), std::logic_error);
}

// The lines of the events the engine adds to the tester's usual ones, as
// isolationtester 15 prints them (tests/specs/notices.out, notify.out and
// never_released.out; the cancel and timed-out lines as isolationtester.c
// writes them).
TEST(SpecTranscript, EngineEventsPrintAsTheTesterPrintsThem) {
  Transcript t(parse_spec("session s\nstep a { SELECT 1; SELECT 2; }\n", "x.spec"));
  EXPECT_EQ(t.record(ev::StepCompleted{"a", {}}), "step a: SELECT 1; SELECT 2;\n");
  EXPECT_EQ(t.record(ev::StepOutput{{ResultSet{{"n"}, {{"1"}}}}}), "n\n-\n1\n(1 row)\n\n");
  EXPECT_EQ(t.record(ev::StepOutput{{SqlError{"ERROR", "boom"}}}), "ERROR:  boom\n");
  EXPECT_EQ(t.record(ev::StepCanceled{"a", 300}), "isolationtester: canceling step a after 300 seconds\n");
  EXPECT_EQ(t.record(ev::Notify{"s", "news", "one", "talker"}),
            "s: NOTIFY \"news\" with payload \"one\" from talker\n");
  EXPECT_EQ(t.record(ev::MutuallyBlocked{}), "failed to complete permutation due to mutually-blocking steps\n");
  EXPECT_EQ(t.record(ev::SessionStuck{"a", 600, {"a", "b"}}),
            "step a timed out after 600 seconds\nactive steps are: a b\n");
  EXPECT_THROW(t.record(ev::StepCanceled{"nope", 1}), std::logic_error);
}

}  // namespace
