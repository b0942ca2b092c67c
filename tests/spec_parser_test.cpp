// Unit tests of the isolation spec parser (spec.hpp); no server.
//
// What these tests check: a well-formed spec parses to exactly the structure
// it spells (setup blocks in order, the teardown, sessions with optional
// setup and teardown, steps with their SQL trimmed as the isolationtester
// trims it, permutations with their (*), (step) and (step notices N)
// markers, positions of names); every malformed form the isolationtester
// rejects is rejected with one line `file:line:column: message` pointing at
// the offending token; with no permutation listed, the permutations to run
// are every interleaving of the sessions' steps, in the tester's order, and
// their number is bounded by a limit.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

#include "pgrace/error.hpp"
#include "spec/spec.hpp"

namespace {

using namespace pgrace::spec;

const char* const kGood = R"SPEC(# a comment before anything
setup { CREATE TABLE t (id int); }
setup
{
  INSERT INTO t VALUES (1);
}
teardown	{ DROP TABLE t; }   # trailing comment

session s1
setup { BEGIN; }
step read { SELECT * FROM t; }
step "write it" {	UPDATE t SET id = 2;	 }
teardown { COMMIT; }

session "the ""other"" one"
step s$2 {
  SELECT 1;
}
step é { }

permutation read "write it" s$2 é
permutation read(*) "write it" s$2("write it") é(read notices 2, *)
)SPEC";

TEST(SpecParser, GoodSpecParsesToItsStructure) {
  const Spec spec = parse_spec(kGood, "good.spec");
  EXPECT_EQ(spec.file, "good.spec");
  ASSERT_EQ(spec.setup_sql.size(), 2u);
  EXPECT_EQ(spec.setup_sql[0], "CREATE TABLE t (id int);");
  EXPECT_EQ(spec.setup_sql[1], "\n  INSERT INTO t VALUES (1);\n");  // newlines are kept, spaces and tabs trimmed
  EXPECT_EQ(spec.teardown_sql, "DROP TABLE t;");

  ASSERT_EQ(spec.sessions.size(), 2u);
  const Session& s1 = spec.sessions[0];
  EXPECT_EQ(s1.name, "s1");
  EXPECT_EQ(s1.setup_sql, "BEGIN;");
  EXPECT_EQ(s1.teardown_sql, "COMMIT;");
  ASSERT_EQ(s1.steps.size(), 2u);
  EXPECT_EQ(s1.steps[0].name, "read");
  EXPECT_EQ(s1.steps[0].sql, "SELECT * FROM t;");
  EXPECT_EQ(s1.steps[0].at.line, 11);
  EXPECT_EQ(s1.steps[0].at.column, 1);
  EXPECT_EQ(s1.steps[1].name, "write it");
  EXPECT_EQ(s1.steps[1].sql, "UPDATE t SET id = 2;");

  const Session& s2 = spec.sessions[1];
  EXPECT_EQ(s2.name, "the \"other\" one");
  EXPECT_FALSE(s2.setup_sql.has_value());
  EXPECT_FALSE(s2.teardown_sql.has_value());
  ASSERT_EQ(s2.steps.size(), 2u);
  EXPECT_EQ(s2.steps[0].name, "s$2");
  EXPECT_EQ(s2.steps[0].sql, "\n  SELECT 1;\n");
  EXPECT_EQ(s2.steps[1].name, "é");
  EXPECT_EQ(s2.steps[1].sql, "");

  ASSERT_EQ(spec.permutations.size(), 2u);
  const auto& plain = spec.permutations[0].steps;
  ASSERT_EQ(plain.size(), 4u);
  EXPECT_EQ(plain[1].name, "write it");
  for (const PermutationStep& step : plain) EXPECT_TRUE(step.blockers.empty());

  const auto& marked = spec.permutations[1].steps;
  ASSERT_EQ(marked.size(), 4u);
  ASSERT_EQ(marked[0].blockers.size(), 1u);
  EXPECT_EQ(marked[0].blockers[0].kind, BlockerKind::once);
  EXPECT_TRUE(marked[1].blockers.empty());
  ASSERT_EQ(marked[2].blockers.size(), 1u);
  EXPECT_EQ(marked[2].blockers[0].kind, BlockerKind::step);
  EXPECT_EQ(marked[2].blockers[0].step, "write it");
  ASSERT_EQ(marked[3].blockers.size(), 2u);
  EXPECT_EQ(marked[3].blockers[0].kind, BlockerKind::notices);
  EXPECT_EQ(marked[3].blockers[0].step, "read");
  EXPECT_EQ(marked[3].blockers[0].notices, 2);
  EXPECT_EQ(marked[3].blockers[1].kind, BlockerKind::once);
  // Columns count characters: "é" is one, whatever its bytes.
  EXPECT_EQ(marked[3].at.line, 22);
  EXPECT_EQ(marked[3].at.column, 48);
  EXPECT_EQ(marked[3].blockers[0].at.column, 50);
}

TEST(SpecParser, MinimalSpecHasNoSetupTeardownOrPermutations) {
  const Spec spec = parse_spec("session s step a{SELECT 1}", "min.spec");
  EXPECT_TRUE(spec.setup_sql.empty());
  EXPECT_FALSE(spec.teardown_sql.has_value());
  ASSERT_EQ(spec.sessions.size(), 1u);
  EXPECT_EQ(spec.sessions[0].steps[0].sql, "SELECT 1");
  EXPECT_TRUE(spec.permutations.empty());
}

TEST(SpecParser, ASqlBlockEndsAtANulByteAsTheTestersCStringDoes) {
  const Spec spec = parse_spec(std::string("session s step a { SELECT 1;\0 SELECT 2; }", 41), "nul.spec");
  EXPECT_EQ(spec.sessions[0].steps[0].sql, "SELECT 1;");
}

TEST(SpecParser, KeywordsAreCaseSensitiveAndOnlyWholeWords) {
  const Spec spec = parse_spec("session stepper step Session { } step \"step\" { }", "k.spec");
  EXPECT_EQ(spec.sessions[0].name, "stepper");
  EXPECT_EQ(spec.sessions[0].steps[0].name, "Session");
  EXPECT_EQ(spec.sessions[0].steps[1].name, "step");
}

TEST(SpecParser, MarkersMayNameLaterSteps) {
  const Spec spec = parse_spec("session s step a {} session t step b {} permutation a(b) b", "m.spec");
  EXPECT_EQ(spec.permutations[0].steps[0].blockers[0].step, "b");
}

struct Malformed {
  const char* what;
  const char* text;
  const char* error;  // the whole message
};

const Malformed kMalformed[] = {
    {"empty file", "",
     "t.spec:1:1: expected \"setup\", \"teardown\" or \"session\", found end of file (a spec needs at least one "
     "session)"},
    {"session without steps", "session s\n",
     "t.spec:2:1: expected \"setup\" or \"step\", found end of file (session s needs at least one step)"},
    {"session with setup but no step", "session s setup {x} teardown {y}",
     "t.spec:1:21: expected \"step\", found \"teardown\" (session s needs at least one step)"},
    {"step without SQL", "session s step a\npermutation a",
     "t.spec:2:1: expected the { SQL } block of step a, found \"permutation\""},
    {"step without name", "session s step { x }",
     "t.spec:1:16: expected a step name (an identifier or \"quoted\"), found a { SQL } block"},
    {"unterminated SQL block", "session s step a { SELECT 1;\n",
     "t.spec:1:18: unterminated SQL block; close it with } (SQL may not contain })"},
    {"unterminated quoted name", "session \"s", "t.spec:1:9: unterminated quoted name; close it with \""},
    {"newline in quoted name", "session \"s\n\" step a {x}",
     "t.spec:1:11: newline in quoted name; close it with \" on the same line"},
    {"stray character", "session s step a {x}\npermutation a @",
     "t.spec:2:15: unexpected character \"@\"; names are identifiers or \"quoted\", and SQL goes between { and }"},
    {"name starting with a digit", "session 1s step a {x}",
     "t.spec:1:9: expected a session name (an identifier or \"quoted\"), found number 1"},
    {"keyword as a bare name", "session s step notices {x}",
     "t.spec:1:16: expected a step name (an identifier or \"quoted\"), found \"notices\""},
    {"upper-case keyword", "SESSION s step a {x}",
     "t.spec:1:1: expected \"setup\", \"teardown\" or \"session\", found name \"SESSION\" (a spec needs at least one "
     "session)"},
    {"setup after teardown", "teardown {x} setup {y} session s step a {x}",
     "t.spec:1:14: expected \"session\", found \"setup\" (a spec needs at least one session)"},
    {"two teardowns", "teardown {x}\nteardown {y} session s step a {x}",
     "t.spec:2:1: expected \"session\", found \"teardown\" (a spec needs at least one session)"},
    {"spec setup after a session", "session s step a {x}\nsetup {y}",
     "t.spec:2:1: expected \"session\", \"permutation\" or end of file, found \"setup\" (a session's setup comes "
     "before its steps and its teardown after them; the spec's own setup and teardown come before the first "
     "session)"},
    {"step after a session's teardown", "session s step a {x} teardown {y} step b {z}",
     "t.spec:1:35: expected \"session\", \"permutation\" or end of file, found \"step\" (a session's steps come "
     "before its teardown)"},
    {"session after a permutation", "session s step a {x} permutation a session t step b {y}",
     "t.spec:1:36: expected \"permutation\" or end of file, found \"session\""},
    {"empty permutation", "session s step a {x} permutation",
     "t.spec:1:33: expected a step name after \"permutation\", found end of file"},
    {"empty markers", "session s step a {x} permutation a()",
     "t.spec:1:36: expected a step name or * in a step's markers, found \")\""},
    {"trailing comma in markers", "session s step a {x} session t step b {y} permutation a(b,) b",
     "t.spec:1:59: expected a step name or * in a step's markers, found \")\""},
    {"unclosed markers", "session s step a {x} session t step b {y} permutation a(b b",
     "t.spec:1:59: expected \",\" or \")\" in the markers of step a, found name \"b\""},
    {"notices without a count", "session s step a {x} session t step b {y} permutation a(b notices) b",
     "t.spec:1:66: expected a number of notices after \"notices\", found \")\""},
    {"negative notices count", "session s step a {x} session t step b {y} permutation a(b notices -1) b",
     "t.spec:1:67: unexpected character \"-\"; names are identifiers or \"quoted\", and SQL goes between { and }"},
    {"huge notices count", "session s step a {x} session t step b {y} permutation a(b notices 99999999999) b",
     "t.spec:1:67: notices count 99999999999 is too large (at most 2147483647)"},
    {"duplicate step name", "session s step a {x}\nsession t step a {y}",
     "t.spec:2:11: duplicate step name \"a\" (first defined at line 1); step names are unique across sessions"},
    {"undefined step in a permutation", "session s step a {x}\npermutation a b",
     "t.spec:2:15: undefined step \"b\" in permutation"},
    {"marker naming an undefined later step", "session s step a {x} permutation a(zz) zz",
     "t.spec:1:40: undefined step \"zz\" in permutation"},
    {"marker naming a step outside the permutation", "session s step a {x} session t step b {y} permutation a(b)",
     "t.spec:1:57: marker of step \"a\" names \"b\", which is not a step of this permutation"},
    {"marker naming a step of its own session", "session s step a {x} step c {z} permutation a(c) c",
     "t.spec:1:47: step \"a\" cannot wait for \"c\": both are steps of session s"},
};

TEST(SpecParser, EachMalformedFormIsOneLineWithLineAndColumn) {
  for (const Malformed& bad : kMalformed) {
    SCOPED_TRACE(bad.what);
    try {
      parse_spec(bad.text, "t.spec");
      ADD_FAILURE() << "parsed";
    } catch (const pgrace::Error& e) {
      EXPECT_EQ(e.code(), pgrace::ExitCode::usage);
      EXPECT_EQ(std::string(e.what()), bad.error);
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    }
  }
}

// A NUL or other control byte in the spec is shown escaped: the message is
// neither cut at the NUL nor carries raw escape sequences to the terminal.
TEST(SpecParser, ControlBytesInAnErrorAreEscaped) {
  const std::pair<std::string, std::string> cases[] = {
      {std::string("session s step a {x}\npermutation a ") + '\0' + " b",
       "t.spec:2:15: unexpected character \"\\x00\"; names are identifiers or \"quoted\", and SQL goes between { "
       "and }"},
      {"session s step a {x} permutation \"\x1b[2J\"", "t.spec:1:34: undefined step \"\\x1b[2J\" in permutation"},
      {"session s step a {x} permutation \x7f",
       "t.spec:1:34: unexpected character \"\\x7f\"; names are identifiers or \"quoted\", and SQL goes between { "
       "and }"},
  };
  for (const auto& [text, error] : cases) {
    SCOPED_TRACE(error);
    try {
      parse_spec(text, "t.spec");
      ADD_FAILURE() << "parsed";
    } catch (const pgrace::Error& e) {
      EXPECT_EQ(std::string(e.what()), error);
    }
  }
}

TEST(SpecParser, LoadNamesAMissingFile) {
  try {
    load_spec("/nonexistent/x.spec");
    FAIL() << "loaded";
  } catch (const pgrace::Error& e) {
    EXPECT_EQ(e.code(), pgrace::ExitCode::usage);
    EXPECT_EQ(std::string(e.what()),
              "/nonexistent/x.spec: cannot open the spec file: No such file or directory; check the path");
  }
}

// A directory, a FIFO without a writer and a device are refused at once,
// unread, with one line naming the path and what to give instead.
TEST(SpecParser, LoadRefusesWhatIsNoRegularFile) {
  const std::string fifo = testing::TempDir() + "spec_parser_test_fifo_" + std::to_string(getpid());
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const std::pair<std::string, std::string> cases[] = {
      {"/tmp", "/tmp: is a directory, not a regular file; give the path of a regular spec file"},
      {fifo, fifo + ": is a FIFO, not a regular file; give the path of a regular spec file"},
      {"/dev/zero", "/dev/zero: is a device, not a regular file; give the path of a regular spec file"},
  };
  for (const auto& [path, error] : cases) {
    SCOPED_TRACE(path);
    try {
      load_spec(path);
      ADD_FAILURE() << "loaded";
    } catch (const pgrace::Error& e) {
      EXPECT_EQ(e.code(), pgrace::ExitCode::usage);
      EXPECT_EQ(std::string(e.what()).rfind(error, 0), 0u) << e.what();
    }
  }
  unlink(fifo.c_str());
}

std::vector<std::string> names(const Permutation& permutation) {
  std::vector<std::string> out;
  for (const PermutationStep& step : permutation.steps) out.push_back(step.name);
  return out;
}

TEST(SpecPermutations, TwoSessionsOfTwoStepsHaveSixInTheTestersOrder) {
  const Spec spec = parse_spec("session s step a1 {} step a2 {} session t step b1 {} step b2 {}", "p.spec");
  EXPECT_EQ(count_permutations(spec), 6u);
  const std::vector<Permutation> all = permutations_to_run(spec, 100);
  ASSERT_EQ(all.size(), 6u);
  // The tester picks from the lowest-numbered session with steps left first.
  const std::vector<std::vector<std::string>> expected = {
      {"a1", "a2", "b1", "b2"}, {"a1", "b1", "a2", "b2"}, {"a1", "b1", "b2", "a2"},
      {"b1", "a1", "a2", "b2"}, {"b1", "a1", "b2", "a2"}, {"b1", "b2", "a1", "a2"},
  };
  for (std::size_t k = 0; k < all.size(); ++k) {
    EXPECT_EQ(names(all[k]), expected[k]);
    for (const PermutationStep& step : all[k].steps) EXPECT_TRUE(step.blockers.empty());
  }
}

TEST(SpecPermutations, CountsAreMultinomial) {
  const Spec three = parse_spec("session s step a {} session t step b1 {} step b2 {} session u step c {}", "p.spec");
  EXPECT_EQ(count_permutations(three), 12u);  // 4! / (1! 2! 1!)
  EXPECT_EQ(permutations_to_run(three, 12).size(), 12u);
  const Spec one = parse_spec("session s step a {} step b {} step c {}", "p.spec");
  EXPECT_EQ(count_permutations(one), 1u);
  ASSERT_EQ(permutations_to_run(one, 1).size(), 1u);
  EXPECT_EQ(names(permutations_to_run(one, 1)[0]), (std::vector<std::string>{"a", "b", "c"}));
}

TEST(SpecPermutations, ListedPermutationsAreRunAsListed) {
  const Spec spec = parse_spec("session s step a {} session t step b {} permutation b a(b) permutation a", "p.spec");
  EXPECT_EQ(count_permutations(spec), 2u);
  const std::vector<Permutation> run = permutations_to_run(spec, 1);  // the limit bounds generated ones only
  ASSERT_EQ(run.size(), 2u);
  EXPECT_EQ(names(run[0]), (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(run[0].steps[1].blockers.size(), 1u);
}

TEST(SpecPermutations, TooManyInterleavingsIsAUsageError) {
  const Spec spec = parse_spec("session s step a1 {} step a2 {} session t step b1 {} step b2 {}", "p.spec");
  try {
    permutations_to_run(spec, 5);
    FAIL() << "generated";
  } catch (const pgrace::Error& e) {
    EXPECT_EQ(e.code(), pgrace::ExitCode::usage);
    EXPECT_EQ(std::string(e.what()),
              "p.spec: its 2 sessions have 6 interleavings, more than the limit of 5; list the permutations to run "
              "in the spec or raise the limit with --max-permutations");
  }
}

TEST(SpecPermutations, UnusedStepsAreListedInByteOrderOnlyWithListedPermutations) {
  const Spec listed = parse_spec("session s step b {} step a {} step Z {} session t step c {} permutation c", "u.spec");
  EXPECT_EQ(unused_steps(listed), (std::vector<std::string>{"Z", "a", "b"}));
  const Spec generated = parse_spec("session s step b {} step a {}", "u.spec");
  EXPECT_TRUE(unused_steps(generated).empty());
}

TEST(SpecPermutations, LocateStepFindsSessionAndIndex) {
  const Spec spec = parse_spec("session s step a {} session t step b {} step c {}", "l.spec");
  EXPECT_EQ(locate_step(spec, "c").session, 1u);
  EXPECT_EQ(locate_step(spec, "c").step, 1u);
  EXPECT_EQ(locate_step(spec, "a").session, 0u);
  EXPECT_THROW(locate_step(spec, "x"), std::out_of_range);
}

}  // namespace
