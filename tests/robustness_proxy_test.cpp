// The fault matrix of the wire proxy's private directories (pgrace-proxy-*
// under PGRACE_TMPDIR), which runs and explorations with faults make.
//
// What they check: a run or an exploration with faults that is interrupted
// (Ctrl-C, SIGTERM; also while a delayed reply is held) or that ends at its
// --timeout with a worker held by a delay leaves no proxy directory behind.
// One that is SIGKILLed leaves its directory, which the next run with faults
// and `pgrace clean` remove, once its pgrace process is gone: never the
// directory of a pgrace that still runs, never what a link points to, never
// a directory of another account. (They leaked in all these cases.)

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pwd.h>

#include <regex>

#include "footprint.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using namespace pgrace::test;
using ::testing::HasSubstr;
using ::testing::Not;

EnvOverrides env_in(const TempDir& tmp) { return without_dsn({{"PGRACE_TMPDIR", tmp.path().string()}}); }

Child start_pgrace(const std::vector<std::string>& args, const EnvOverrides& env) {
  std::vector<std::string> argv = {pgrace_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return Child(argv, env);
}

// Waits until `tmp` holds a proxy directory that is not in `known`; returns its name ("" on timeout).
std::string new_proxy_directory(const TempDir& tmp, const std::set<std::string>& known = {}) {
  std::string found;
  eventually(
      [&] {
        for (const auto& name : proxy_directories(tmp.path()))
          if (!known.count(name)) found = name;
        return !found.empty();
      },
      60000ms);
  return found;
}

// A `pgrace server` of the test's own under `tmp`, for the commands that take --dsn.
class OwnServer {
 public:
  explicit OwnServer(const TempDir& tmp) : child_(start_pgrace({"server"}, env_in(tmp))) {
    if (!child_.read_stdout_until("Press Ctrl-C", 60s)) throw std::runtime_error("no server: " + child_.err());
    std::smatch match;
    const std::string banner = child_.out();
    if (!std::regex_search(banner, match, std::regex("psql \"([^\"]+)\"")))
      throw std::runtime_error("no DSN in: " + banner);
    dsn_ = match[1].str();
  }
  ~OwnServer() {
    child_.signal(SIGINT);
    child_.wait(30s);
  }
  const std::string& dsn() const { return dsn_; }

 private:
  Child child_;
  std::string dsn_;
};

// Ctrl-C and SIGTERM of the commands, once their proxy is up (and,
// with a one-second delay on every reply, once a reply is held).
TEST(FaultProxy, InterruptedRunsAndExplorationsLeaveNoProxyDirectory) {
  struct Case {
    std::vector<std::string> args;
    std::chrono::milliseconds after;  // from the proxy directory's appearance to the signal
  };
  const Case cases[] = {
      {{"run", "payment.retry_any_error", "--duration", "5"}, 300ms},
      {{"explore", "payment.idempotent_retry", "--workers", "3", "--fault", "drop_reply", "--fault",
        "drop_before_send"},
       300ms},
      {{"run", "payment.retry_any_error", "--fault", "delay_reply:1:1000ms", "--duration", "5"}, 1500ms},
  };
  TempDir tmp;
  for (const Case& c : cases) {
    for (int sig : {SIGINT, SIGTERM}) {
      SCOPED_TRACE(std::string(strsignal(sig)) + " of " + c.args[0] + " " + c.args[1] + " " + c.args.back());
      Child child = start_pgrace(c.args, env_in(tmp));
      ASSERT_NE(new_proxy_directory(tmp), "") << child.err();
      std::this_thread::sleep_for(c.after);
      child.signal(sig);
      EXPECT_EQ(child.wait(60s).value_or(-1), 128 + sig) << child.err();
      EXPECT_EQ(proxy_directories(tmp.path()), std::set<std::string>{});
    }
  }
}

// Every reply is held 1.9 s and the run's --timeout is 2 s: the run ends
// there, says the injected delay held the workers, and leaves nothing.
TEST(FaultProxy, ARunEndingAtItsTimeoutWithWorkersHeldByADelayLeavesNoProxyDirectory) {
  TempDir tmp;
  const RunResult r = run_pgrace(
      {"run", "payment.retry_any_error", "--fault", "delay_reply:1900ms", "--timeout", "2", "--iterations", "1000"},
      env_in(tmp));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("timed out after 2 s (--timeout)"));
  EXPECT_THAT(r.out, HasSubstr("injected delay_reply fault held back"));
  EXPECT_THAT(r.out, Not(HasSubstr("stuck in the scenario's C++ code")));
  EXPECT_EQ(proxy_directories(tmp.path()), std::set<std::string>{});
}

// A directory that looks like a proxy's and belongs to `account` (the
// server account), with an owner.lock nobody holds.
void plant_foreign_directory(const fs::path& dir, const passwd& account) {
  fs::create_directory(dir);
  std::ofstream(dir / "owner.lock").put('x');
  chown((dir / "owner.lock").c_str(), account.pw_uid, account.pw_gid);
  chown(dir.c_str(), account.pw_uid, account.pw_gid);
}

// SIGKILL leaves the directory; `pgrace clean` and then the next run with
// faults remove such leftovers, and leave alone the directory of a pgrace
// that still runs, a link that looks like a leftover (and what it points
// to), and, as root, a directory of the server account.
TEST(FaultProxy, AKilledRunsDirectoryIsRemovedByCleanAndByTheNextRunAndNothingElseIs) {
  TempDir tmp;
  OwnServer server(tmp);
  const std::vector<std::string> faulted = {"run",       "payment.retry_any_error", "--duration", "30", "--dsn",
                                            server.dsn()};
  const auto killed_leftover = [&] {
    const std::set<std::string> before = proxy_directories(tmp.path());
    Child killed = start_pgrace(faulted, env_in(tmp));
    const std::string name = new_proxy_directory(tmp, before);
    killed.signal(SIGKILL);
    killed.wait(10s);
    return name;
  };
  ASSERT_EQ(proxy_directories(tmp.path()), std::set<std::string>{});
  Child running = start_pgrace(faulted, env_in(tmp));
  const std::string live = new_proxy_directory(tmp);
  ASSERT_NE(live, "") << running.err();
  const fs::path victim = tmp.path() / "victim";
  fs::create_directory(victim);
  std::ofstream(victim / "owner.lock").put('x');
  fs::create_directory_symlink(victim, tmp.path() / "pgrace-proxy-link01");
  const passwd* postgres = getpwnam("postgres");
  const bool as_root = geteuid() == 0 && postgres;
  if (as_root) plant_foreign_directory(tmp.path() / "pgrace-proxy-other1", *postgres);

  const std::string first = killed_leftover();
  ASSERT_NE(first, "");
  EXPECT_TRUE(fs::exists(tmp.path() / first)) << "SIGKILL left nothing: the case is not what it should be";
  const RunResult clean = run_pgrace({"clean", "--dsn", server.dsn()}, env_in(tmp));
  EXPECT_EQ(clean.exit_code, 0) << clean.out << clean.err;
  EXPECT_THAT(clean.out, HasSubstr("removed " + (tmp.path() / first).string() + ": a wire proxy's directory"));
  EXPECT_FALSE(fs::exists(tmp.path() / first));

  const std::string second = killed_leftover();
  ASSERT_NE(second, "");
  const RunResult next = run_pgrace({"run", "payment.retry_any_error", "--dsn", server.dsn()}, env_in(tmp));
  EXPECT_EQ(next.exit_code, 0) << next.out << next.err;
  EXPECT_FALSE(fs::exists(tmp.path() / second));

  EXPECT_TRUE(fs::exists(tmp.path() / live)) << "the directory of a running pgrace was removed";
  EXPECT_TRUE(fs::is_symlink(tmp.path() / "pgrace-proxy-link01"));
  EXPECT_TRUE(fs::exists(victim / "owner.lock")) << "a link was followed";
  if (as_root) {
    EXPECT_TRUE(fs::exists(tmp.path() / "pgrace-proxy-other1" / "owner.lock")) << "another account's directory";
  }
  running.signal(SIGINT);
  EXPECT_EQ(running.wait(60s).value_or(-1), 128 + SIGINT) << running.err();
  fs::remove(tmp.path() / "pgrace-proxy-link01");
  if (as_root) fs::remove_all(tmp.path() / "pgrace-proxy-other1");
  EXPECT_EQ(proxy_directories(tmp.path()), std::set<std::string>{});
}

}  // namespace
