// Process tests of `pgrace spec` (the isolation spec engine, spec/runner.hpp,
// and its command), on real PostgreSQL servers.
//
// What these tests check: for every spec file of pgrace's own in
// tests/specs, the transcript pgrace prints is byte for byte the output
// PostgreSQL 15's isolationtester printed for it (committed beside it as
// NAME.out, made by scripts/spec-expected.sh; when the installed tester is
// found it is also run live on the same server and compared). Together the
// specs cover listed permutations and all interleavings, lock waits, a
// deadlock whose victim is fixed by deadlock_timeout, the (*), (other) and
// (other notices N) markers, application_name with the session's name, notices in setup blocks, between result tables
// and before a wait, NOTIFY, multi-statement steps, NULLs and alignment,
// setup and teardown failures, a marker never released, and a session whose
// backend another session terminates (the run goes on without it until it
// is needed again, as the tester's does). --expected exits
// 0 on a match (with any of several alternatives) and 1 with a unified diff
// against the closest otherwise; bad input exits 2 with one line naming the file and the fix,
// before any server starts; a step that neither completes nor waits is
// cancelled after --step-timeout and the run fails; Ctrl-C leaves no
// database and no server behind.
//
// Determinism: lock waits and the deadlock are checked on every run; run
// this file with --gtest_repeat=10 on a loaded machine to see that they hold.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "pgrace/server.hpp"
#include "test_support.hpp"

namespace {

using namespace pgrace::test;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

void write_text(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// Names (without .spec) of the specs that have an expected output.
std::vector<std::string> own_specs() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(specs_dir()))
    if (entry.path().extension() == ".spec" && fs::exists(fs::path(entry.path()).replace_extension(".out")))
      names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string spec_path(const std::string& name) { return (specs_dir() / (name + ".spec")).string(); }
std::string out_path(const std::string& name) { return (specs_dir() / (name + ".out")).string(); }

// The installed isolationtester of PostgreSQL 15 (the reference), or "".
std::string installed_isolationtester() {
  const char* path = "/usr/lib/postgresql/15/lib/pgxs/src/test/isolation/isolationtester";
  return access(path, X_OK) == 0 ? path : "";
}

// pgrace databases on `server` (pgrace_run_*, pgrace_build_*).
std::vector<std::string> pgrace_databases(const pgrace::Server& server) {
  pqxx::connection connection(server.dsn());
  pqxx::nontransaction tx(connection);
  std::vector<std::string> names;
  for (const auto& row : tx.exec("SELECT datname FROM pg_database WHERE datname LIKE 'pgrace\\_run\\_%'"))
    names.push_back(row[0].as<std::string>());
  return names;
}

// One server for the tests that pass --dsn.
class SpecRun : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!server_) server_ = pgrace::Server::open(std::nullopt);
  }
  static std::unique_ptr<pgrace::Server> server_;
};
std::unique_ptr<pgrace::Server> SpecRun::server_;

class OwnSpec : public SpecRun, public ::testing::WithParamInterface<std::string> {};

TEST_P(OwnSpec, MatchesTheIsolationTestersOutput) {
  const std::string name = GetParam();
  const RunResult run = run_pgrace({"spec", spec_path(name), "--expected", out_path(name), "--dsn", server_->dsn()});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_THAT(run.out, HasSubstr("ok    " + spec_path(name) + " (matches " + out_path(name) + ")"));
  EXPECT_EQ(run.err, "");
}

// Without --expected the output is the transcript itself.
TEST_P(OwnSpec, PrintsExactlyTheTranscript) {
  const std::string name = GetParam();
  const RunResult run = run_pgrace({"spec", spec_path(name), "--dsn", server_->dsn()});
  EXPECT_EQ(run.out, read_text(out_path(name)));
  const bool setup_fails = name == "setup_fails" || name == "session_setup_fails";
  const bool blocked = name == "never_released";
  const bool lost = name == "terminated_backend";
  EXPECT_EQ(run.exit_code, setup_fails || blocked || lost ? 1 : 0) << run.err;
  if (setup_fails) {
    EXPECT_THAT(run.err, HasSubstr("a setup block failed, so the run stopped there"));
  } else if (blocked) {
    EXPECT_THAT(run.err, HasSubstr("steps still blocked each other at a permutation's end"));
  } else if (lost) {
    EXPECT_THAT(run.err, HasSubstr("a session's backend ended and the run needed it again"));
  } else {
    EXPECT_EQ(run.err, "");
  }
}

// The installed isolationtester, run now on the same server in a database
// set up as pgrace sets up its own, prints what pgrace prints.
TEST_P(OwnSpec, MatchesTheInstalledIsolationTesterLive) {
  const std::string tester = installed_isolationtester();
  if (tester.empty()) GTEST_SKIP() << "PostgreSQL 15's isolationtester is not installed";
  const std::string name = GetParam();
  TempDir tmp;
  const fs::path live = tmp.path() / (name + ".out");
  const std::string script = (specs_dir().parent_path().parent_path() / "scripts" / "spec-expected.sh").string();
  fs::copy_file(spec_path(name), tmp.path() / (name + ".spec"));
  const RunResult made =
      run({"/bin/sh", script, server_->dsn(), (tmp.path() / (name + ".spec")).string()}, {{"ISOLATIONTESTER", tester}});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const RunResult checked = run_pgrace({"spec", spec_path(name), "--expected", live.string(), "--dsn", server_->dsn()});
  EXPECT_EQ(checked.exit_code, 0) << checked.out << checked.err;
}

INSTANTIATE_TEST_SUITE_P(Specs, OwnSpec, ::testing::ValuesIn(own_specs()), [](const auto& info) { return info.param; });

TEST_F(SpecRun, HasTheSpecsItMeansToCheck) {
  const std::vector<std::string> expected = {"alignment",      "all_interleavings", "application_name",
                                             "deadlock",       "deadlock_order",    "every_line",
                                             "lock_wait",      "markers",           "names",
                                             "never_released", "notices",           "notify",
                                             "release_order",  "results",           "session_setup_fails",
                                             "setup_fails",    "teardown_fails",    "terminated_backend"};
  EXPECT_EQ(own_specs(), expected);
}

// Several spec files in one command, each with its NAME.out; the default
// (ephemeral) server.
TEST_F(SpecRun, ChecksSeveralSpecsOnTheEphemeralServer) {
  std::vector<std::string> args = {"spec"};
  for (const char* name : {"lock_wait", "deadlock", "notices"}) args.push_back(spec_path(name));
  for (const char* name : {"notices", "lock_wait", "deadlock"}) args.insert(args.end(), {"--expected", out_path(name)});
  const RunResult run = run_pgrace(args, without_dsn());
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_THAT(run.out, HasSubstr("3/3 spec files matched their expected output"));
}

TEST_F(SpecRun, WrongExpectedOutputExitsOneWithADiff) {
  TempDir tmp;
  std::string text = read_text(out_path("lock_wait"));
  const std::string right = "apple| 14\n";
  text.replace(text.find(right), right.size(), "apple| 15\n");
  const fs::path wrong = tmp.path() / "lock_wait.out";
  write_text(wrong, text);
  const RunResult run =
      run_pgrace({"spec", spec_path("lock_wait"), "--expected", wrong.string(), "--dsn", server_->dsn()});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_THAT(run.out,
              HasSubstr("FAIL  " + spec_path("lock_wait") + ": the transcript differs from " + wrong.string()));
  EXPECT_THAT(run.out, HasSubstr("--- " + wrong.string() + "\n+++ transcript\n@@ "));
  EXPECT_THAT(run.out, HasSubstr("\n-apple| 15\n+apple| 14\n"));
  EXPECT_THAT(run.out, HasSubstr("0/1 spec files matched"));
}

TEST_F(SpecRun, AnyAlternativeMayMatchAndTheDiffIsAgainstTheClosest) {
  TempDir tmp;
  const std::string text = read_text(out_path("deadlock"));
  write_text(tmp.path() / "deadlock_1.out", "Parsed test spec with 9 sessions\n");
  write_text(tmp.path() / "deadlock_2.out", text.substr(0, text.rfind("(2 rows)")) + "(3 rows)\n\n");
  const std::string far = (tmp.path() / "deadlock_1.out").string(), near = (tmp.path() / "deadlock_2.out").string();
  const RunResult matched = run_pgrace(
      {"spec", spec_path("deadlock"), "--expected", far, "--expected", out_path("deadlock"), "--dsn", server_->dsn()});
  EXPECT_EQ(matched.exit_code, 0) << matched.out << matched.err;
  const RunResult missed =
      run_pgrace({"spec", spec_path("deadlock"), "--expected", far, "--expected", near, "--dsn", server_->dsn()});
  EXPECT_EQ(missed.exit_code, 1) << missed.out << missed.err;
  EXPECT_THAT(missed.out, HasSubstr("differs from " + near + ", the closest expected output"));
  EXPECT_THAT(missed.out, HasSubstr("-(3 rows)\n+(2 rows)\n"));
}

// Bad input: exit 2, one line naming the file and the problem, before any
// server starts (so quickly, and with a DSN that could not work anyway).
TEST_F(SpecRun, BadInputIsAUsageErrorOnOneLine) {
  TempDir tmp;
  const std::string broken = (tmp.path() / "broken.spec").string();
  write_text(broken, "session s\nstep a { SELECT 1; }\npermutation a b\n");
  const std::string control = (tmp.path() / "control.spec").string();
  write_text(control, std::string("session s step a {x} permutation \"\x1b[2J") + '\0' + "x\"");
  const std::string fifo = (tmp.path() / "pipe.out").string();
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const std::string nowhere = "postgresql://nobody@127.0.0.1:1/none";
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  std::vector<Case> cases = {
      {{"spec", (tmp.path() / "missing.spec").string()}, "missing.spec"},
      {{"spec", broken}, "broken.spec:3:"},
      {{"spec", spec_path("deadlock"), "--expected", (tmp.path() / "missing.out").string()}, "missing.out"},
      {{"spec", spec_path("deadlock"), spec_path("notify"), "--expected", out_path("results")},
       "--expected " + out_path("results") + " matches none of the spec files"},
      {{"spec", spec_path("deadlock"), spec_path("notify"), "--expected", out_path("notify")},
       "no --expected file for " + spec_path("deadlock")},
      {{"spec", spec_path("deadlock"), "--step-timeout", "0"}, "--step-timeout must be"},
      {{"spec"}, "no spec file given"},
      // Not regular files: refused unread (a FIFO without a writer used to hang, a directory to be an
      // internal error), as spec files and as expected files.
      {{"spec", spec_path("deadlock"), "--expected", fifo},
       fifo + ": is a FIFO, not a regular file; give the path of a regular expected output file"},
      {{"spec", spec_path("deadlock"), "--expected", tmp.path().string()},
       tmp.path().string() + ": is a directory, not a regular file; give the path of a regular expected output file"},
      {{"spec", fifo}, fifo + ": is a FIFO, not a regular file; give the path of a regular spec file"},
      {{"spec", tmp.path().string()}, tmp.path().string() + ": is a directory, not a regular file"},
      {{"spec", "/dev/zero"}, "/dev/zero: is a device, not a regular file"},
      // Control bytes in a parse error are escaped, not printed raw nor cut at a NUL.
      {{"spec", control}, "control.spec:1:34: undefined step \"\\x1b[2J\\x00x\" in permutation"},
      {{"spec", spec_path("all_interleavings"), "--max-permutations", "5"},
       "its 2 sessions have 6 interleavings, more than the limit of 5; list the permutations to run in the spec "
       "or raise the limit with --max-permutations"},
  };
  for (const std::string bad : {"0", "-1", "1e3", "0x10", " 7", "", "18446744073709551616"})
    cases.push_back({{"spec", spec_path("deadlock"), "--max-permutations", bad},
                     "--max-permutations must be a whole number from 1 to 18446744073709551615, got '" + bad + "'"});
  for (Case c : cases) {
    c.args.insert(c.args.end(), {"--dsn", nowhere});
    const RunResult run = run_pgrace(c.args, {}, 20s);
    SCOPED_TRACE(c.args[1]);
    EXPECT_EQ(run.exit_code, 2) << run.err;
    EXPECT_THAT(run.err, StartsWith("pgrace: "));
    EXPECT_THAT(run.err, HasSubstr(c.message));
    EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << run.err;
    EXPECT_EQ(run.err.find_first_of(std::string("\x1b\0", 2)), std::string::npos) << run.err;
    EXPECT_EQ(run.out, "");
  }
}

// As the tester does, the session's name is appended to the application_name
// the connection string gives (tests/specs/application_name.spec checks the
// suffixes against the tester itself).
TEST_F(SpecRun, ApplicationNameKeepsTheConnectionStringsAndAppendsTheSession) {
  TempDir tmp;
  const std::string spec = (tmp.path() / "app.spec").string();
  write_text(spec,
             "setup { SELECT current_setting('application_name') AS control; }\n"
             "session \"s one\"\nstep s_app { SELECT current_setting('application_name') AS app; }\n");
  const RunResult run = run_pgrace({"spec", spec, "--dsn", server_->dsn() + " application_name=probe"});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_THAT(run.out, HasSubstr("\nprobe/control connection\n"));
  EXPECT_THAT(run.out, HasSubstr("\nprobe/s one\n"));
}

TEST_F(SpecRun, AStepThatNeitherCompletesNorWaitsIsCancelled) {
  TempDir tmp;
  const std::string spec = (tmp.path() / "sleeper.spec").string();
  write_text(spec, "session s\nstep s_sleep { SELECT pg_sleep(60); }\nstep s_after { SELECT 'after' AS next; }\n");
  const RunResult run = run_pgrace({"spec", spec, "--step-timeout", "1000", "--dsn", server_->dsn()});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_LT(run.seconds, 10);
  EXPECT_THAT(run.out, HasSubstr("isolationtester: canceling step s_sleep after 1 seconds\n"
                                 "step s_sleep: SELECT pg_sleep(60);\n"
                                 "ERROR:  canceling statement due to user request\n"
                                 "step s_after: SELECT 'after' AS next;\n"));
  EXPECT_THAT(run.err, HasSubstr("step s_sleep neither completed nor waited for a lock"));
  EXPECT_EQ(pgrace_databases(*server_), std::vector<std::string>{});
}

// A marker that holds a step until a step of another session completes,
// which waits for a lock the held step's session would release next: the
// tester waits for the held step for twice its step timeout, prints which
// steps are still active and stops. pgrace prints the same lines (the
// tester, when installed, is run with the same timeout and compared) and
// goes on with the next spec file.
TEST_F(SpecRun, ASessionBusyForTwiceTheStepTimeoutStopsTheSpecAsTheTesterDoes) {
  TempDir tmp;
  const fs::path spec = tmp.path() / "stuck.spec";
  write_text(spec,
             "setup { CREATE TABLE t (id int); }\nteardown { DROP TABLE t; }\n"
             "session a\nsetup { BEGIN; }\nstep a_lock { LOCK t; }\nstep a_held { SELECT 'held' AS h; }\n"
             "step a_commit { COMMIT; }\n"
             "session b\nstep b_wait { SELECT count(*) FROM t; }\n"
             "permutation a_lock b_wait a_held(b_wait) a_commit\n");
  const std::string stuck_lines =
      "step a_held: SELECT 'held' AS h; <waiting ...>\n"
      "step a_held timed out after 2 seconds\n"
      "active steps are: a_held b_wait\n";
  const RunResult stuck = run_pgrace({"spec", spec.string(), "--step-timeout", "1000", "--dsn", server_->dsn()});
  EXPECT_EQ(stuck.exit_code, 1) << stuck.out << stuck.err;
  EXPECT_THAT(stuck.out, EndsWith(stuck_lines));
  EXPECT_THAT(stuck.err, HasSubstr("stayed busy with an earlier step for twice the step timeout"));
  EXPECT_EQ(pgrace_databases(*server_), std::vector<std::string>{});

  write_text(tmp.path() / "stuck.out", stuck.out);
  const RunResult checked =
      run_pgrace({"spec", spec.string(), spec_path("lock_wait"), "--expected", out_path("lock_wait"), "--expected",
                  (tmp.path() / "stuck.out").string(), "--step-timeout", "1000", "--dsn", server_->dsn()});
  EXPECT_EQ(checked.exit_code, 0) << checked.out << checked.err;
  EXPECT_THAT(checked.out, HasSubstr("2/2 spec files matched"));

  const std::string tester = installed_isolationtester();
  if (tester.empty()) GTEST_SKIP() << "PostgreSQL 15's isolationtester is not installed";
  const std::string script = (specs_dir().parent_path().parent_path() / "scripts" / "spec-expected.sh").string();
  const RunResult made = run({"/bin/sh", script, server_->dsn(), spec.string()},
                             {{"ISOLATIONTESTER", tester}, {"PGISOLATIONTIMEOUT", "1"}});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  EXPECT_EQ(read_text(tmp.path() / "stuck.out"), stuck.out);
}

// Ctrl-C during a step: exit 130, nothing printed after it, and neither the
// database (on a DSN server) nor the ephemeral server is left behind.
TEST_F(SpecRun, CtrlCLeavesNoDatabaseAndNoServer) {
  TempDir tmp;
  const std::string spec = (tmp.path() / "sleeper.spec").string();
  write_text(spec, "setup { CREATE TABLE t (x int); }\nsession s\nstep s_sleep { SELECT pg_sleep(60); }\n");
  for (const bool ephemeral : {false, true}) {
    SCOPED_TRACE(ephemeral ? "ephemeral server" : "--dsn");
    std::vector<std::string> argv = {pgrace_binary(), "spec", spec};
    if (!ephemeral) argv.insert(argv.end(), {"--dsn", server_->dsn()});
    Child child(argv, without_dsn({{"PGRACE_TMPDIR", tmp.path().string()}}));
    ASSERT_TRUE(child.read_stdout_until("starting permutation", 30s)) << child.out();
    child.signal(SIGINT);
    const auto code = child.wait(15s);
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, 128 + SIGINT) << child.err();
    EXPECT_EQ(child.err(), "");
    EXPECT_EQ(pgrace_databases(*server_), std::vector<std::string>{});
    if (ephemeral) {
      const auto servers_in_tmp = [&] {
        for (const auto& entry : fs::directory_iterator("/proc")) {
          const std::string command = read_text(entry.path() / "cmdline");
          if (command.find(tmp.path().string()) != std::string::npos && command.find("postgres") != std::string::npos)
            return true;
        }
        return false;
      };
      EXPECT_TRUE(eventually([&] { return !servers_in_tmp(); }, 5000ms))
          << "a server in " << tmp.path() << " still runs";
    }
  }
}

}  // namespace
