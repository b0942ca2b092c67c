// Process-level tests of the pgrace program: exit codes, output, secrecy of
// passwords, and cleanup of the ephemeral server when pgrace is interrupted
// or killed.
//
// What the cleanup tests check: however pgrace ends (Ctrl-C, or SIGKILL,
// which it cannot catch and where its watchdog process must clean up), the
// ephemeral server's directory is removed and its postmaster stops, within a
// few seconds.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>
#include <thread>

#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using namespace pgrace::test;
using ::testing::HasSubstr;
using ::testing::Not;

int count_lines(const std::string& text) {
  int lines = 0;
  for (char c : text) lines += c == '\n';
  if (!text.empty() && text.back() != '\n') ++lines;
  return lines;
}

TEST(Cli, VersionPrintsNameAndVersion) {
  const RunResult r = run_pgrace({"--version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(^pgrace \d+\.\d+\.\d+\n?$)"))) << r.out;
}

TEST(Cli, HelpExitsZeroAndListsSubcommands) {
  const RunResult r = run_pgrace({"--help"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("smoke"));
  EXPECT_THAT(r.out, HasSubstr("server"));
}

TEST(Cli, UnknownOrMissingSubcommandIsUsageError) {
  const RunResult unknown = run_pgrace({"no-such-command"});
  EXPECT_EQ(unknown.exit_code, 2) << unknown.out << unknown.err;
  EXPECT_FALSE(unknown.err.empty());

  const RunResult none = run_pgrace({});
  EXPECT_EQ(none.exit_code, 2) << none.out << none.err;
  EXPECT_FALSE(none.err.empty());

  const RunResult bad_option = run_pgrace({"smoke", "--no-such-option"});
  EXPECT_EQ(bad_option.exit_code, 2) << bad_option.out << bad_option.err;
}

TEST(Cli, SmokeOnEphemeralServer) {
  const RunResult r = run_pgrace({"smoke"}, without_dsn());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("SELECT 6 * 7 = 42"));
  EXPECT_THAT(r.out, HasSubstr("ephemeral"));
  EXPECT_THAT(r.out, HasSubstr("PostgreSQL "));
}

TEST(Cli, UnreachableDsnFailsFastWithRedactedOneLineError) {
  const RunResult r = run_pgrace({"smoke", "--dsn", "postgresql://bob:s3cret@127.0.0.1:1/db"}, without_dsn(), 30s);
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_LT(r.seconds, 10.0);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("***"));
  EXPECT_THAT(r.err, Not(HasSubstr("s3cret")));
  EXPECT_THAT(r.out, Not(HasSubstr("s3cret")));
}

TEST(Cli, UnparsableDsnIsInfrastructureErrorWithoutSecret) {
  const RunResult r = run_pgrace({"smoke", "--dsn", "postgresql://u:s3cret@[bad"}, without_dsn(), 30s);
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_FALSE(r.err.empty());
  EXPECT_THAT(r.err, Not(HasSubstr("s3cret")));
  EXPECT_THAT(r.out, Not(HasSubstr("s3cret")));
}

TEST(Cli, PgraceDsnEnvironmentIsUsedWithoutDsnOption) {
  const RunResult r = run_pgrace(
      {"smoke"}, {{"PGRACE_DSN", "postgresql://bob:s3cret@127.0.0.1:1/db"}, {"DATABASE_URL", std::nullopt}}, 30s);
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("127.0.0.1"));
  EXPECT_THAT(r.err, Not(HasSubstr("s3cret")));
}

TEST(Cli, DatabaseUrlIsUsedWhenNothingElseIsGiven) {
  const RunResult r =
      run_pgrace({"smoke"}, {{"PGRACE_DSN", ""}, {"DATABASE_URL", "postgresql://bob:s3cret@127.0.0.1:1/db"}}, 30s);
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_THAT(r.err, Not(HasSubstr("s3cret")));
}

// Starts `pgrace server` and waits for its banner. Fills `dir` with the
// server's directory and `postmaster` with its postmaster's pid.
void start_server(Child& child, fs::path& dir, pid_t& postmaster) {
  ASSERT_TRUE(child.read_stdout_until("Press Ctrl-C", 60s)) << child.out() << child.err();
  EXPECT_THAT(child.out(), HasSubstr("psql"));
  std::smatch match;
  const std::string out = child.out();
  ASSERT_TRUE(std::regex_search(out, match, std::regex("Press Ctrl-C to stop it and remove (\\S+)\n"))) << out;
  dir = match[1].str();
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  postmaster = postmaster_pid(dir / "data");
  ASSERT_GT(postmaster, 0);
  ASSERT_FALSE(process_gone(postmaster));
}

TEST(Cli, ServerIsCleanedUpByWatchdogAfterSigkill) {
  Child child({pgrace_binary(), "server"}, without_dsn());
  fs::path dir;
  pid_t postmaster = -1;
  ASSERT_NO_FATAL_FAILURE(start_server(child, dir, postmaster));

  child.signal(SIGKILL);
  const auto code = child.wait(10s);
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 128 + SIGKILL);

  EXPECT_TRUE(eventually([&] { return !fs::exists(dir); }, 5000ms)) << dir << " still exists";
  EXPECT_TRUE(eventually([&] { return process_gone(postmaster); }, 5000ms))
      << "postmaster " << postmaster << " still runs";
}

TEST(Cli, ServerStopsCleanlyOnSigint) {
  Child child({pgrace_binary(), "server"}, without_dsn());
  fs::path dir;
  pid_t postmaster = -1;
  ASSERT_NO_FATAL_FAILURE(start_server(child, dir, postmaster));

  child.signal(SIGINT);
  const auto code = child.wait(15s);
  ASSERT_TRUE(code) << "pgrace server did not exit on SIGINT";
  EXPECT_EQ(*code, 0) << child.out() << child.err();
  EXPECT_THAT(child.out(), HasSubstr("stopped"));
  EXPECT_FALSE(fs::exists(dir)) << dir;
  EXPECT_TRUE(eventually([&] { return process_gone(postmaster); }, 5000ms))
      << "postmaster " << postmaster << " still runs";
}

TEST(Cli, ServerStopsCleanlyOnSigterm) {
  Child child({pgrace_binary(), "server"}, without_dsn());
  fs::path dir;
  pid_t postmaster = -1;
  ASSERT_NO_FATAL_FAILURE(start_server(child, dir, postmaster));

  child.signal(SIGTERM);
  const auto code = child.wait(15s);
  ASSERT_TRUE(code) << "pgrace server did not exit on SIGTERM";
  EXPECT_EQ(*code, 0) << child.out() << child.err();
  EXPECT_FALSE(fs::exists(dir)) << dir;
  EXPECT_TRUE(eventually([&] { return process_gone(postmaster); }, 5000ms));
}

// The banner is printed only once the wait for Ctrl-C is in place, so a
// signal sent the moment it appears still gives an orderly stop (exit 0).
// Failed about 1 run in 13 when the banner came first.
TEST(Cli, ServerExitsZeroOnSigintRightAfterBanner) {
  for (int attempt = 0; attempt < 10; ++attempt) {
    SCOPED_TRACE("attempt " + std::to_string(attempt));
    Child child({pgrace_binary(), "server"}, without_dsn());
    fs::path dir;
    pid_t postmaster = -1;
    ASSERT_NO_FATAL_FAILURE(start_server(child, dir, postmaster));
    child.signal(SIGINT);
    const auto code = child.wait(15s);
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, 0) << child.out() << child.err();
    EXPECT_FALSE(fs::exists(dir)) << dir;
  }
}

}  // namespace
