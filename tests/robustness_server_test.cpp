// Fault-matrix tests of the ephemeral server (issue 8): pgrace is interrupted
// (Ctrl-C, SIGTERM), killed (SIGKILL; or together with its watchdog, as a
// cgroup or OOM kill does), loses its postmaster, or is given a PGRACE_TMPDIR
// or a PostgreSQL it cannot use, at every phase of a server's life we can
// reach: initdb on a cold template cache, copying the cached template,
// starting the server, a run.
//
// What they check: each case ends with its documented exit code and at most
// one line of error that names the cause, and leaves nothing of its own
// behind: no server process, instance directory, System V segment or
// /dev/shm/PostgreSQL.* file. Each case runs with a fresh PGRACE_TMPDIR, so
// "before" is nothing; "after" counts only what the case's own servers made
// (see footprint.hpp), so other servers on the machine do not matter. An
// instance whose pgrace and watchdog were killed together is removed by the
// next pgrace, which leaves the server of a running pgrace alone. And the
// watchdog, which runs as root when pgrace does, acts only on what it
// verified: files the server account plants in the instance cannot make it
// kill a root process or remove a segment that is not the server's.

#include <gmock/gmock.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/shm.h>

#include <pqxx/nontransaction>
#include <regex>

#include "footprint.hpp"
#include "pgrace/connection.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using namespace pgrace::test;
using ::testing::HasSubstr;
using ::testing::Not;

// Quiet: a progress line (a run on a busy machine lasts long enough to print
// one) would count as a second line of error.
const std::vector<std::string> kRun = {"run", "transfer.for_update", "--duration", "5", "-q"};

EnvOverrides env_in(const TempDir& tmp, EnvOverrides extra = {}) {
  extra.emplace("PGRACE_TMPDIR", tmp.path().string());
  return without_dsn(extra);
}

int count_lines(const std::string& text) {
  int lines = 0;
  for (char c : text) lines += c == '\n';
  return lines + (!text.empty() && text.back() != '\n');
}

int count_matches(const std::string& text, const std::string& pattern) {
  const std::regex line(pattern, std::regex::multiline);
  return static_cast<int>(std::distance(std::sregex_iterator(text.begin(), text.end(), line), std::sregex_iterator()));
}

Child start_pgrace(const std::vector<std::string>& args, const EnvOverrides& env) {
  std::vector<std::string> argv = {pgrace_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return Child(argv, env);
}

void fill_template_cache(const TempDir& tmp) {
  const RunResult r = run_pgrace({"smoke"}, env_in(tmp));
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

// The postmaster pgrace `child` started, as seen by `footprint`, or -1.
pid_t postmaster_of(const Child& child, const ServerFootprint& footprint) {
  for (const auto& p : footprint.running("postgres", "/data"))
    if (parent_of(p.pid) == child.pid()) return p.pid;
  return -1;
}

// pgrace's watchdog: its child that is neither a server program nor a
// teardown helper.
pid_t watchdog_of(pid_t pgrace) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(name));
    if (parent_of(pid) != pgrace) continue;
    std::ifstream cmdline(entry.path() / "cmdline"), comm(entry.path() / "comm");
    std::string args((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>()), command;
    std::getline(comm, command);
    if (command == "pgrace-watchdog" || args.find("pgrace-watchdog") != std::string::npos) return pid;
  }
  return -1;
}

// Runs `script` with /bin/sh as the server account; returns its exit code.
int run_as_server_account(const std::string& script) {
  const passwd* pw = getpwnam("postgres");
  if (!pw) return -1;
  const uid_t uid = pw->pw_uid;
  const gid_t gid = pw->pw_gid;
  const pid_t pid = fork();
  if (pid == 0) {
    if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0) _exit(126);
    execl("/bin/sh", "sh", "-c", script.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Waits until `ready` holds (at most `timeout`), then for `delay`, then
// sends `sig` to `child` and waits for its exit code (-1 on timeout).
template <typename Ready>
int signal_when(Child& child, Ready ready, std::chrono::milliseconds delay, int sig,
                std::chrono::milliseconds timeout = 60s) {
  EXPECT_TRUE(eventually(ready, timeout)) << "the phase to interrupt was never reached: " << child.err();
  std::this_thread::sleep_for(delay);
  child.signal(sig);
  return child.wait(60s).value_or(-1);
}

// ------------------------------------------------------------ interruptions

// Ctrl-C or SIGTERM while initdb fills a cold template cache: some time
// after pgrace started (the recipe: `run & sleep 0.2; kill -INT $!`),
// and some time after initdb's first standalone backend started. Those
// backends make shared memory of their own; it leaked (one System V segment
// and /dev/shm files) when pgrace removed their directory under them instead
// of stopping them.
TEST(FaultServer, InterruptDuringColdInitdbLeavesNothing) {
  struct When {
    bool after_backend;  // else after pgrace started
    std::chrono::milliseconds delay;
  };
  const When whens[] = {{false, 200ms}, {false, 400ms}, {false, 700ms}, {false, 1000ms}, {true, 0ms}, {true, 300ms}};
  for (int sig : {SIGINT, SIGTERM}) {
    for (const When& when : whens) {
      SCOPED_TRACE(std::string(strsignal(sig)) + " " + std::to_string(when.delay.count()) + " ms after " +
                   (when.after_backend ? "initdb's first backend started" : "pgrace started"));
      TempDir tmp;
      ServerFootprint footprint(tmp.path());
      Child child = start_pgrace(kRun, env_in(tmp));
      const auto reached = [&] { return !when.after_backend || !footprint.running("postgres", "/template").empty(); };
      const int code = signal_when(child, reached, when.delay, sig);
      EXPECT_EQ(code, 128 + sig) << child.err();
      EXPECT_LE(count_lines(child.err()), 1) << child.err();
      EXPECT_THAT(child.err(), Not(HasSubstr("initdb failed"))) << "an interruption is not initdb's fault";
      footprint.stop();
      EXPECT_EQ(footprint.leftovers(), "");
    }
  }
}

// SIGKILL while initdb runs: the watchdog stops initdb and its backend.
TEST(FaultServer, SigkillDuringColdInitdbIsCleanedUpByTheWatchdog) {
  for (auto delay : {0ms, 400ms}) {
    SCOPED_TRACE(std::to_string(delay.count()) + " ms into initdb's backend");
    TempDir tmp;
    ServerFootprint footprint(tmp.path());
    Child child = start_pgrace(kRun, env_in(tmp));
    const int code = signal_when(
        child, [&] { return !footprint.running("postgres", "/template").empty(); }, delay, SIGKILL);
    EXPECT_EQ(code, 128 + SIGKILL);
    footprint.stop();
    EXPECT_EQ(footprint.leftovers(), "");
  }
}

// Ctrl-C, SIGTERM and SIGKILL while pgrace copies the cached template, while
// the server starts, and during a run.
TEST(FaultServer, SignalsAtEveryPhaseOfAWarmStartLeaveNothing) {
  TempDir tmp;
  ASSERT_NO_FATAL_FAILURE(fill_template_cache(tmp));
  struct Phase {
    const char* name;
    std::function<bool(const ServerFootprint&)> reached;
  };
  const Phase phases[] = {
      {"copying the template", [](const ServerFootprint& f) { return !f.running("cp").empty(); }},
      {"starting the server", [](const ServerFootprint& f) { return !f.running("postgres", "/data").empty(); }},
      {"running the scenario", [](const ServerFootprint& f) { return f.running("postgres", "/data").size() >= 12; }},
  };
  for (const Phase& phase : phases) {
    for (int sig : {SIGINT, SIGTERM, SIGKILL}) {
      SCOPED_TRACE(std::string(strsignal(sig)) + " while " + phase.name);
      ServerFootprint footprint(tmp.path());
      Child child = start_pgrace(kRun, env_in(tmp));
      const int code = signal_when(
          child, [&] { return phase.reached(footprint); }, 0ms, sig);
      EXPECT_EQ(code, 128 + sig) << child.err();
      EXPECT_LE(count_lines(child.err()), 1) << child.err();
      footprint.stop();
      EXPECT_EQ(footprint.leftovers(), "");
    }
  }
}

// The postmaster is SIGKILLed mid-run: its backends, still attached to its
// System V segment, outlive it; the segment leaked in about 2 of 9 tries
// when pgrace removed only a segment nobody was attached to.
TEST(FaultServer, PostmasterKilledMidRunLeavesNothing) {
  TempDir tmp;
  ASSERT_NO_FATAL_FAILURE(fill_template_cache(tmp));
  for (int attempt = 0; attempt < 6; ++attempt) {
    SCOPED_TRACE("attempt " + std::to_string(attempt));
    ServerFootprint footprint(tmp.path());
    Child child = start_pgrace(kRun, env_in(tmp));
    pid_t postmaster = -1;
    ASSERT_TRUE(eventually(
        [&] {
          postmaster = postmaster_of(child, footprint);
          return postmaster > 0 && footprint.running("postgres", "/data").size() >= 12;
        },
        60s))
        << child.err();
    kill(postmaster, SIGKILL);
    const auto code = child.wait(60s);
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, 3) << child.err();
    // One error of pgrace's. (libpq may also print the server's "FATAL:
    // terminating connection due to unexpected postmaster exit" notice; that
    // belongs to connection handling, not to the server's cleanup.)
    EXPECT_EQ(count_matches(child.err(), "^pgrace: "), 1) << child.err();
    footprint.stop();
    EXPECT_EQ(footprint.leftovers(), "") << child.err();
  }
}

// ------------------------------------------------------------ the watchdog

// A System V segment with a PostgreSQL header naming directory `named`,
// created by the account `uid` (root or the server account).
int make_segment(uid_t uid, const fs::path& named) {
  struct stat dir {};
  stat(named.c_str(), &dir);
  const gid_t gid = uid == 0 ? 0 : getpwuid(uid)->pw_gid;
  int fds[2];
  if (pipe(fds) != 0) return -1;
  const pid_t pid = fork();
  if (pid == 0) {
    if (uid != 0 && (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0)) _exit(1);
    const int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    if (id >= 0) {
      struct Header {
        std::int32_t magic;
        pid_t creator;
        std::size_t total, free;
        std::uint32_t dsm;
        void* index;
        dev_t device;
        ino_t inode;
      };
      auto* header = static_cast<Header*>(shmat(id, nullptr, 0));
      *header = Header{679834894, getpid(), 4096, 4096, 0, nullptr, dir.st_dev, dir.st_ino};
      shmdt(header);
    }
    (void)!write(fds[1], &id, sizeof id);
    _exit(0);
  }
  close(fds[1]);
  int id = -1;
  (void)!read(fds[0], &id, sizeof id);
  close(fds[0]);
  waitpid(pid, nullptr, 0);
  return id;
}

bool segment_exists(int id) {
  shmid_ds ds{};
  return shmctl(id, IPC_STAT, &ds) == 0;
}

// As the server account (which any SQL superuser of a local cluster can act
// as), plant what the old watchdog trusted: a pids/ directory naming a root
// process, and a postmaster.pid naming that process and a root segment (one
// whose PostgreSQL header even names the instance's data directory). Then
// SIGKILL pgrace: the watchdog must stop the server and remove the instance,
// and nothing else.
TEST(FaultServer, WatchdogActsOnlyOnWhatItVerified) {
  if (geteuid() != 0 || !getpwnam("postgres"))
    GTEST_SKIP() << "needs root and a postgres account (the watchdog runs as root only when pgrace does)";
  TempDir tmp;
  ServerFootprint footprint(tmp.path());
  Child server = start_pgrace({"server"}, env_in(tmp));
  ASSERT_TRUE(server.read_stdout_until("Press Ctrl-C", 60s)) << server.err();
  std::smatch match;
  const std::string out = server.out();
  ASSERT_TRUE(std::regex_search(out, match, std::regex("stop it and remove (\\S+)\n")));
  const fs::path dir = match[1].str();

  Child root_sleep({"/usr/bin/setsid", "/bin/sleep", "600"});  // a process group leader, as root
  const int root_segment = make_segment(0, dir / "data");
  const int foreign_segment = make_segment(getpwnam("postgres")->pw_uid, tmp.path());
  ASSERT_GE(root_segment, 0);
  ASSERT_GE(foreign_segment, 0);
  const std::string victim = std::to_string(root_sleep.pid());
  run_as_server_account("cd " + dir.string() + " && { mv pids pids.orig; mkdir pids && touch pids/" + victim +
                        "; } 2>/dev/null; sed -i -e '1s/.*/" + victim + "/' -e '7s/.*/1 " +
                        std::to_string(root_segment) + "/' data/postmaster.pid");

  server.signal(SIGKILL);
  ASSERT_TRUE(server.wait(10s));
  footprint.stop();
  EXPECT_EQ(footprint.leftovers(), "");
  EXPECT_FALSE(process_gone(root_sleep.pid())) << "the watchdog killed root's process " << victim;
  EXPECT_TRUE(segment_exists(root_segment)) << "the watchdog removed root's segment";
  EXPECT_TRUE(segment_exists(foreign_segment)) << "the watchdog removed a segment of another directory";
  shmctl(root_segment, IPC_RMID, nullptr);
  shmctl(foreign_segment, IPC_RMID, nullptr);
}

// pgrace and its watchdog are SIGKILLed together (a cgroup or OOM kill). The
// next pgrace stops and removes that orphaned server, and leaves the server
// of another pgrace, which still runs, alone.
TEST(FaultServer, KilledTogetherWithItsWatchdogIsReapedByTheNextRun) {
  TempDir tmp;
  ServerFootprint footprint(tmp.path());
  Child running = start_pgrace({"server"}, env_in(tmp));
  ASSERT_TRUE(running.read_stdout_until("Press Ctrl-C", 60s)) << running.err();
  std::smatch match;
  const std::string banner = running.out();
  ASSERT_TRUE(std::regex_search(banner, match, std::regex("psql \"([^\"]+)\"")));
  const std::string running_dsn = match[1].str();

  Child killed = start_pgrace({"server"}, env_in(tmp));
  ASSERT_TRUE(killed.read_stdout_until("Press Ctrl-C", 60s)) << killed.err();
  pid_t orphan = -1;
  ASSERT_TRUE(eventually([&] { return (orphan = postmaster_of(killed, footprint)) > 0; }));
  const pid_t watchdog = watchdog_of(killed.pid());
  ASSERT_GT(watchdog, 0);
  kill(watchdog, SIGKILL);
  killed.signal(SIGKILL);
  ASSERT_TRUE(killed.wait(10s));
  ASSERT_TRUE(eventually([&] { return process_gone(watchdog); }));  // a lock it holds is released once it is gone
  std::this_thread::sleep_for(500ms);
  ASSERT_FALSE(process_gone(orphan)) << "nobody was left to stop the server: the case is not what it should be";

  const RunResult next = run_pgrace({"smoke"}, env_in(tmp));
  EXPECT_EQ(next.exit_code, 0) << next.err;
  EXPECT_TRUE(eventually([&] { return process_gone(orphan); }, 10s)) << "the orphaned postmaster still runs";
  {
    auto connection = pgrace::connect(running_dsn);
    pqxx::nontransaction tx(*connection);
    EXPECT_EQ(tx.exec("SELECT 1")[0][0].as<int>(), 1) << "the running pgrace's server was touched";
  }
  running.signal(SIGINT);
  EXPECT_EQ(running.wait(30s).value_or(-1), 0) << running.err();
  footprint.stop();
  EXPECT_EQ(footprint.leftovers(), "");
}

// The same during initdb on a cold cache: the orphaned initdb is stopped.
TEST(FaultServer, KilledTogetherWithItsWatchdogDuringInitdbIsReapedByTheNextRun) {
  TempDir tmp;
  ServerFootprint footprint(tmp.path());
  Child killed = start_pgrace(kRun, env_in(tmp));
  ASSERT_TRUE(eventually([&] { return !footprint.running("postgres", "/template").empty(); }, 60s)) << killed.err();
  const pid_t watchdog = watchdog_of(killed.pid());
  ASSERT_GT(watchdog, 0);
  kill(watchdog, SIGKILL);
  killed.signal(SIGKILL);
  ASSERT_TRUE(killed.wait(10s));
  ASSERT_TRUE(eventually([&] { return process_gone(watchdog); }));

  const RunResult next = run_pgrace({"smoke"}, env_in(tmp));
  EXPECT_EQ(next.exit_code, 0) << next.err;
  footprint.stop();
  EXPECT_EQ(footprint.leftovers(), "");
}

// A cgroup kill takes everything at once: pgrace, its watchdog, initdb and
// initdb's standalone backend, which leaves its shared memory behind. The next
// pgrace removes it.
TEST(FaultServer, EverythingKilledDuringInitdbIsReapedByTheNextRun) {
  for (auto delay : {0ms, 300ms}) {
    SCOPED_TRACE(std::to_string(delay.count()) + " ms into initdb's backend");
    TempDir tmp;
    ServerFootprint footprint(tmp.path());
    Child killed = start_pgrace(kRun, env_in(tmp));
    ASSERT_TRUE(eventually([&] { return !footprint.running("postgres", "/template").empty(); }, 60s)) << killed.err();
    std::this_thread::sleep_for(delay);
    const pid_t watchdog = watchdog_of(killed.pid());
    ASSERT_GT(watchdog, 0);
    kill(watchdog, SIGKILL);
    killed.signal(SIGKILL);
    for (const auto& p : footprint.seen())
      if (still_runs(p)) kill(p.pid, SIGKILL);
    ASSERT_TRUE(killed.wait(10s));
    ASSERT_TRUE(eventually([&] { return process_gone(watchdog); }));

    const RunResult next = run_pgrace({"smoke"}, env_in(tmp));
    EXPECT_EQ(next.exit_code, 0) << next.err;
    footprint.stop();
    EXPECT_EQ(footprint.leftovers(), "");
  }
}

// ------------------------------------------------------------ configuration

// A relative PGRACE_TMPDIR made the server fail to start, with the cause in
// its log; now it is a configuration error (exit 2) said in one line, before
// anything is made.
TEST(FaultServer, RelativeTmpdirIsAConfigurationError) {
  TempDir tmp;
  const fs::path relative = fs::relative(tmp.path(), fs::current_path());
  ASSERT_TRUE(relative.is_relative()) << relative;
  const RunResult r = run_pgrace({"smoke"}, without_dsn({{"PGRACE_TMPDIR", relative.string()}}));
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("PGRACE_TMPDIR"));
  EXPECT_THAT(r.err, HasSubstr("absolute"));
  EXPECT_TRUE(fs::is_empty(tmp.path()));
}

// A PGRACE_TMPDIR too long for the server's unix socket path (107 bytes) is
// a configuration error that names the longest that works; that longest one
// works.
TEST(FaultServer, TooLongTmpdirIsAConfigurationErrorAtTheExactLimit) {
  TempDir tmp;
  const RunResult far =
      run_pgrace({"smoke"}, env_in(tmp, {{"PGRACE_TMPDIR", (tmp.path() / std::string(120, 'x')).string()}}));
  EXPECT_EQ(far.exit_code, 2) << far.out << far.err;
  EXPECT_EQ(count_lines(far.err), 1) << far.err;
  EXPECT_THAT(far.err, HasSubstr("107"));
  std::smatch match;
  ASSERT_TRUE(std::regex_search(far.err, match, std::regex("at most (\\d+) bytes"))) << far.err;
  const std::size_t longest = std::stoul(match[1].str());
  const std::size_t name = longest - tmp.path().string().size() - 1;
  ASSERT_GT(name, 0u);

  const fs::path fits = tmp.path() / std::string(name, 'a');
  const fs::path over = tmp.path() / std::string(name + 1, 'b');
  for (const auto& dir : {fits, over}) {
    fs::create_directory(dir);
    fs::permissions(dir, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec | fs::perms::others_read |
                             fs::perms::others_exec);
  }
  const RunResult ok = run_pgrace({"smoke"}, env_in(tmp, {{"PGRACE_TMPDIR", fits.string()}}));
  EXPECT_EQ(ok.exit_code, 0) << fits.string().size() << " bytes: " << ok.err;
  const RunResult bad = run_pgrace({"smoke"}, env_in(tmp, {{"PGRACE_TMPDIR", over.string()}}));
  EXPECT_EQ(bad.exit_code, 2) << over.string().size() << " bytes: " << bad.err;
  EXPECT_EQ(count_lines(bad.err), 1) << bad.err;
}

// initdb fails for real (its programs were moved away from their libraries):
// the error says why, in one line, instead of initdb's last output lines.
TEST(FaultServer, FailingInitdbSaysWhy) {
  TempDir tmp;
  const fs::path bin = tmp.path() / "bin";
  fs::create_directory(bin);
  std::string bindir;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql"))
    if (fs::exists(entry.path() / "bin" / "initdb")) bindir = (entry.path() / "bin").string();
  if (bindir.empty()) GTEST_SKIP() << "no PostgreSQL under /usr/lib/postgresql to relocate";
  for (const char* program : {"initdb", "postgres"}) fs::copy_file(fs::path(bindir) / program, bin / program);
  fs::permissions(bin, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec | fs::perms::others_read |
                           fs::perms::others_exec);

  ServerFootprint footprint(tmp.path());
  const RunResult r = run_pgrace({"smoke"}, env_in(tmp, {{"PGRACE_PG_BINDIR", bin.string()}}));
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("initdb failed"));
  EXPECT_THAT(r.err, ::testing::ContainsRegex("FATAL|ERROR|error:"));
  footprint.stop();
  fs::remove_all(bin);
  EXPECT_EQ(footprint.leftovers(), "");
}

}  // namespace
