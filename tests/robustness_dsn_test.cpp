// The fault matrix of issue 8 for servers of the user's (--dsn): connection
// strings, per-run databases, templates, roles and connections.
//
// What these tests check: whatever the connection string looks like, its
// password never reaches stdout, stderr or a report; a bad one is a one-line
// error naming the accepted schemes. On a server of the user's, pgrace leaves
// no database behind: not when runs race to build the same template (all of
// them succeed, and no run ever copies a half-built template), not on Ctrl-C
// or SIGTERM (the run's database is dropped at once), and after SIGKILL the
// next run or `pgrace clean` drops it, while a database whose process still
// runs, or whose process cannot be checked (another machine), is kept and
// said to be kept. A role that is not a superuser runs after a superuser
// did; a role that lacks CREATEDB, a broken scenario schema and a role
// connection limit each give a one-line error that names the problem and the
// fix. Each case states its command, exit code and error line, and checks
// the databases on the server before and after.
//
// The server (`D` in the issue) is started by each test: a private cluster
// with SCRAM password authentication listening on 127.0.0.1 only, run as the
// postgres account when the tests run as root, removed afterwards.

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/thread/barrier.hpp>
#include <fstream>
#include <pqxx/nontransaction>
#include <set>
#include <thread>

#include "pgrace/connection.hpp"
#include "pgrace/error.hpp"
#include "pgrace/runner.hpp"
#include "pgrace/server.hpp"
#include "server/connection_errors.hpp"
#include "server/database.hpp"
#include "server/database_owner.hpp"
#include "server/ephemeral_cluster.hpp"
#include "server/process.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using namespace pgrace::test;
using ::testing::HasSubstr;
using ::testing::Not;

const char* const kScenario = "transfer.for_update";

int free_tcp_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0)
    throw std::runtime_error("no free TCP port");
  close(fd);
  return ntohs(address.sin_port);
}

// A server of the test's own on 127.0.0.1 with password authentication;
// superuser "pgsuper" with password "superpw". Stopped and removed by the
// destructor.
class PasswordServer {
 public:
  PasswordServer() : account_(pgrace::detail::server_account()) {
    const auto bin = pgrace::detail::find_server_binaries();
    if (account_.switch_user && chown(dir_.path().c_str(), account_.uid, account_.gid) != 0)
      throw std::runtime_error("cannot hand the test directory to the server account");
    const fs::path pwfile = dir_.path() / "pw";
    std::ofstream(pwfile) << "superpw\n";
    chmod(pwfile.c_str(), 0600);
    if (account_.switch_user && chown(pwfile.c_str(), account_.uid, account_.gid) != 0)
      throw std::runtime_error("cannot hand the password file to the server account");
    const fs::path log = dir_.path() / "server.log";
    const int status = pgrace::detail::wait_for_exit(
        pgrace::detail::spawn({(bin.bindir / "initdb").string(), "-D", data().string(), "-U", "pgsuper",
                               "--auth=scram-sha-256", "--pwfile=" + pwfile.string(), "-N", "-E", "UTF8", "--locale=C"},
                              {account_, dir_.path(), log, {}, false}));
    if (status != 0) throw std::runtime_error("initdb failed: " + pgrace::detail::tail_of_file(log, 5));
    port_ = free_tcp_port();
    postmaster_ = pgrace::detail::spawn(
        {(bin.bindir / "postgres").string(), "-D", data().string(), "-c", "listen_addresses=127.0.0.1", "-c",
         "port=" + std::to_string(port_), "-c", "unix_socket_directories=" + dir_.path().string(), "-c", "fsync=off",
         "-c", "max_connections=100", "-c", "shared_buffers=16MB", "-c", "dynamic_shared_memory_type=mmap"},
        {account_, dir_.path(), log, {}, false});
    const std::string probe = url("pgsuper", "superpw");
    const auto deadline = Clock::now() + 30s;
    while (PQping(probe.c_str()) != PQPING_OK) {
      const bool exited = pgrace::detail::poll_exit(postmaster_).has_value();
      if (!exited && Clock::now() > deadline) pgrace::detail::terminate_and_reap(postmaster_, SIGINT, 10s);
      if (exited || Clock::now() > deadline)
        throw std::runtime_error("test server did not start: " + pgrace::detail::tail_of_file(log, 5));
      std::this_thread::sleep_for(10ms);
    }
  }
  ~PasswordServer() { pgrace::detail::terminate_and_reap(postmaster_, SIGINT, 10s); }
  PasswordServer(const PasswordServer&) = delete;
  PasswordServer& operator=(const PasswordServer&) = delete;

  std::string url(const std::string& user, const std::string& password, const std::string& db = "postgres") const {
    return "postgresql://" + user + ":" + password + "@127.0.0.1:" + std::to_string(port_) + "/" + db;
  }
  std::string superuser() const { return url("pgsuper", "superpw"); }
  int port() const { return port_; }

  void exec(const std::string& sql) const {
    auto connection = pgrace::connect(superuser());
    pqxx::nontransaction tx(*connection);
    tx.exec(sql);
  }
  // Names of databases matching the LIKE pattern.
  std::set<std::string> databases(const std::string& like) const {
    auto connection = pgrace::connect(superuser());
    pqxx::nontransaction tx(*connection);
    std::set<std::string> names;
    for (const auto& row : tx.exec_params("SELECT datname FROM pg_database WHERE datname LIKE $1", like))
      names.insert(row[0].as<std::string>());
    return names;
  }
  // What a run may leave: per-run and template-build databases.
  std::set<std::string> leftovers() const {
    std::set<std::string> all = databases("pgrace\\_run\\_%");
    for (const auto& name : databases("pgrace\\_build\\_%")) all.insert(name);
    return all;
  }
  void drop_templates() const {
    for (const auto& name : databases("pgrace\\_tpl\\_%")) exec("DROP DATABASE \"" + name + "\"");
  }

 private:
  fs::path data() const { return dir_.path() / "data"; }
  TempDir dir_;
  pgrace::detail::Account account_;
  int port_ = 0;
  pid_t postmaster_ = -1;
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The run failed with `code` and exactly one line on stderr, which is returned.
std::string one_line_error(const RunResult& r, int code) {
  EXPECT_EQ(r.exit_code, code) << r.out << r.err;
  EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  return r.err;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// -------------------------------------------------------------- item 4

// Each form of connection string that once showed "secretpw", and whether
// it is a URL that is not PostgreSQL's. None reaches a server: they are
// rejected, or point at a port nothing listens on.
const std::vector<std::pair<std::string, bool>> kSecretForms = {
    {"postgresql+psycopg2://app:secretpw@127.0.0.1:1/db", true},
    {"postgis://app:secretpw@127.0.0.1:1/db", true},
    {"mysql://app:secretpw@127.0.0.1:1/db", true},
    {"http://app:secretpw@127.0.0.1:1/", true},
    {"postgresql:/app:secretpw@127.0.0.1:1/db", true},
    {"app:secretpw@127.0.0.1:1/db", true},
    {"host=127.0.0.1 port=1 passwor=secretpw", false},
    {"postgresql://app:secretpw@127.0.0.1:1/db", false},
    {"host=127.0.0.1 port=1 user=app password=secretpw dbname=db", false},
};

// Command: DATABASE_URL=<form> pgrace run T -q --report R --junit J, and the
// same with --dsn <form>, and pgrace clean/smoke --dsn <form>.
// Exit 3, one line without the password; URL-like forms name the accepted
// schemes; no report is written.
TEST(FaultDsn, PasswordOfAnyConnectionStringFormIsNeverShown) {
  TempDir dir;
  const std::string report = (dir.path() / "r.json").string(), junit = (dir.path() / "r.xml").string();
  for (const auto& [form, foreign] : kSecretForms) {
    SCOPED_TRACE(form);
    std::vector<RunResult> results = {
        run_pgrace({"run", kScenario, "-q", "--report", report, "--junit", junit},
                   {{"PGRACE_DSN", std::nullopt}, {"DATABASE_URL", form}}),
        run_pgrace({"run", kScenario, "-q", "--dsn", form, "--report", report, "--junit", junit}, without_dsn()),
        run_pgrace({"clean", "--dsn", form}, without_dsn()),
        run_pgrace({"smoke", "--dsn", form}, without_dsn()),
    };
    for (const RunResult& r : results) {
      const std::string error = one_line_error(r, 3);
      EXPECT_THAT(r.out + r.err, Not(HasSubstr("secretpw")));
      if (!foreign) continue;
      EXPECT_THAT(error, HasSubstr("not a PostgreSQL URL"));
      EXPECT_THAT(error, HasSubstr("postgresql://"));
      EXPECT_THAT(error, HasSubstr("postgres://"));
    }
    EXPECT_FALSE(fs::exists(report));
    EXPECT_FALSE(fs::exists(junit));
  }
}

// Command: pgrace run T --dsn <url or key=value with the password> --report R
// --junit J (exit 0), and with a wrong password (exit 3, one line). The
// password appears in none of stdout, stderr, the JSON report, the JUnit XML.
TEST(FaultDsn, PasswordIsNotShownWhenTheServerAcceptsOrRefusesIt) {
  PasswordServer server;
  EXPECT_TRUE(server.leftovers().empty());
  server.exec("CREATE ROLE app LOGIN CREATEDB PASSWORD 'secretpw'");
  TempDir dir;
  const fs::path report = dir.path() / "r.json", junit = dir.path() / "r.xml";
  for (const std::string& dsn : {server.url("app", "secretpw"), "host=127.0.0.1 port=" + std::to_string(server.port()) +
                                                                    " user=app password=secretpw dbname=postgres"}) {
    SCOPED_TRACE(dsn);
    RunResult r = run_pgrace(
        {"run", kScenario, "--iterations", "2", "--dsn", dsn, "--report", report.string(), "--junit", junit.string()},
        without_dsn());
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_THAT(r.out + r.err + read_file(report) + read_file(junit), Not(HasSubstr("secretpw")));
    EXPECT_THAT(read_file(report), HasSubstr("***"));
  }
  RunResult wrong = run_pgrace({"run", kScenario, "--dsn", server.url("app", "wrongsecret")}, without_dsn());
  EXPECT_THAT(one_line_error(wrong, 3), HasSubstr("password authentication failed"));
  EXPECT_THAT(wrong.out + wrong.err, Not(HasSubstr("wrongsecret")));
  EXPECT_TRUE(server.leftovers().empty());
}

// Command: pgrace run T --dsn 'postgresql://spacey:pw<blank>SECRET@...' (and
// through PGRACE_DSN, and key=value with the password quoted) for a blank
// space, tab, CR and LF, on a server where that is spacey's password (exit
// 0), and on a port nothing listens on (exit 3, one line). "SECRET" is in
// none of stdout, stderr, the report (once: the URL's password ran only to
// the blank, and the report held "pw SECRET").
TEST(FaultDsn, APasswordWithWhiteSpaceIsNeverShown) {
  PasswordServer server;
  TempDir dir;
  const fs::path report = dir.path() / "r.json";
  server.exec("CREATE ROLE spacey LOGIN CREATEDB");
  for (const std::string blank : {" ", "\t", "\r", "\n"}) {
    SCOPED_TRACE(static_cast<int>(blank[0]));
    server.exec("ALTER ROLE spacey PASSWORD $$pw" + blank + "SECRET$$");
    const std::string url = server.url("spacey", "pw" + blank + "SECRET");
    const std::string keyword = "host=127.0.0.1 port=" + std::to_string(server.port()) + " user=spacey password='pw" +
                                blank + "SECRET' dbname=postgres";
    const auto run = [&](const std::string& dsn, bool in_environment) {
      std::vector<std::string> args = {"run", kScenario, "-q", "--iterations", "1", "--report", report.string()};
      if (!in_environment) args.insert(args.end(), {"--dsn", dsn});
      return run_pgrace(args, without_dsn(in_environment ? EnvOverrides{{"PGRACE_DSN", dsn}} : EnvOverrides{}));
    };
    for (const auto& [dsn, in_environment, shown] :
         std::vector<std::tuple<std::string, bool, std::string>>{{url, true, "spacey:***@127.0.0.1"},
                                                                 {url, false, "spacey:***@127.0.0.1"},
                                                                 {keyword, false, "user=spacey password=***"}}) {
      const RunResult r = run(dsn, in_environment);
      EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
      EXPECT_THAT(r.out + r.err + read_file(report), Not(HasSubstr("SECRET")));
      EXPECT_THAT(read_file(report), HasSubstr(shown));
    }
    RunResult refused = run("postgresql://u:pw" + blank + "SECRET@127.0.0.1:1/db", false);
    EXPECT_THAT(one_line_error(refused, 3), HasSubstr("postgresql://u:***@127.0.0.1:1/db"));
    EXPECT_THAT(refused.out + refused.err, Not(HasSubstr("SECRET")));
  }
  EXPECT_TRUE(server.leftovers().empty());
}

// -------------------------------------------------------------- item 5

// Command: 3 x pgrace run T --dsn D at once, on a server without the
// template, 10 times. Exit 0 for every one (once: exit 3, duplicate key
// on pg_database_datname_index, blaming CREATEDB).
TEST(FaultDsn, ConcurrentRunsWithoutATemplateAllSucceed) {
  PasswordServer server;
  EXPECT_TRUE(server.leftovers().empty());
  for (int round = 0; round < 10; ++round) {
    server.drop_templates();
    std::vector<std::unique_ptr<Child>> runs;
    for (int i = 0; i < 3; ++i)
      runs.push_back(
          std::make_unique<Child>(std::vector<std::string>{pgrace_binary(), "run", kScenario, "-q", "--threads", "2",
                                                           "--iterations", "1", "--dsn", server.superuser()},
                                  without_dsn()));
    for (auto& run : runs) {
      EXPECT_EQ(run->wait(120s), 0) << "round " << round << ": " << run->out() << run->err();
    }
    EXPECT_EQ(server.databases("pgrace\\_tpl\\_%").size(), 1u) << "round " << round;
  }
  EXPECT_TRUE(server.leftovers().empty());
}

// N threads create scenario databases for a new schema at once, through two
// different maintenance databases (so not all under one advisory lock), 10
// rounds. Every creator succeeds, and every copy holds the whole schema,
// whose statements are slowed down so that copying a half-built template
// would show.
TEST(FaultDsn, ConcurrentTemplateCreatorsNeverCopyAHalfBuiltTemplate) {
  PasswordServer server;
  server.exec("CREATE DATABASE other");
  EXPECT_TRUE(server.leftovers().empty());
  constexpr int kCreators = 4;
  for (int round = 0; round < 10; ++round) {
    const std::string schema = "CREATE TABLE first_" + std::to_string(round) +
                               " (id int); SELECT pg_sleep(0.02); CREATE TABLE second (id int);";
    boost::barrier start(kCreators);
    std::vector<std::string> failures(kCreators);
    std::vector<std::thread> threads;
    for (int i = 0; i < kCreators; ++i)
      threads.emplace_back([&, i] {
        try {
          start.wait();
          const std::string maintenance = server.url("pgsuper", "superpw", i % 2 ? "other" : "postgres");
          pgrace::detail::ScenarioDatabase database(maintenance, schema, "test.concurrent");
          auto connection = pgrace::connect(database.dsn());
          pqxx::nontransaction tx(*connection);
          const int tables = tx.exec("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")[0][0].as<int>();
          if (tables != 2) failures[i] = "a copy with " + std::to_string(tables) + " of 2 tables";
        } catch (const std::exception& e) {
          failures[i] = e.what();
        }
      });
    for (auto& t : threads) t.join();
    for (int i = 0; i < kCreators; ++i) EXPECT_EQ(failures[i], "") << "round " << round << ", creator " << i;
  }
  EXPECT_EQ(server.databases("pgrace\\_tpl\\_%").size(), 10u);
  EXPECT_TRUE(server.leftovers().empty());
}

// -------------------------------------------------------------- item 6

// Starts pgrace run T --dsn D for `seconds` and returns once its database
// exists, setting `database` to its name.
std::unique_ptr<Child> start_long_run(const PasswordServer& server, std::string& database,
                                      const std::string& seconds = "30") {
  const auto before = server.databases("pgrace\\_run\\_%");
  auto run = std::make_unique<Child>(std::vector<std::string>{pgrace_binary(), "run", kScenario, "-q", "--threads", "2",
                                                              "--duration", seconds, "--dsn", server.superuser()},
                                     without_dsn());
  database.clear();
  EXPECT_TRUE(eventually(
      [&] {
        for (const auto& name : server.databases("pgrace\\_run\\_%"))
          if (!before.count(name)) database = name;
        return !database.empty();
      },
      30s))
      << run->err();
  return run;
}

// Command: pgrace run T --dsn D --duration 30, then SIGINT or SIGTERM.
// Exit 130 / 143, and the run's database is gone (once: kept for good).
TEST(FaultDsn, CtrlCAndSigtermDropTheRunsDatabase) {
  PasswordServer server;
  EXPECT_TRUE(server.leftovers().empty());
  for (int sig : {SIGINT, SIGTERM}) {
    SCOPED_TRACE(sig);
    std::string database;
    auto run = start_long_run(server, database);
    EXPECT_THAT(database, ::testing::StartsWith("pgrace_run_"));
    run->signal(sig);
    EXPECT_EQ(run->wait(30s), 128 + sig) << run->err();
    EXPECT_TRUE(server.leftovers().empty()) << database;
  }
}

// Command: pgrace run T --dsn D --duration 30, SIGKILL, then pgrace clean
// --dsn D. The database outlives the SIGKILL; clean exits 0 and says
// "removed <it>"; a database of a run still going on, and one made on another
// machine, are kept and said to be kept (once: no clean; later runs left it).
TEST(FaultDsn, CleanRemovesWhatAKilledRunLeftAndKeepsTheRest) {
  PasswordServer server;
  EXPECT_TRUE(server.leftovers().empty());
  std::string live, killed;
  auto running = start_long_run(server, live);
  {
    auto run = start_long_run(server, killed);
    run->signal(SIGKILL);
    EXPECT_EQ(run->wait(30s), 128 + SIGKILL);
  }
  const std::string foreign = "pgrace_run_000000000000_4242_1234_0";
  server.exec("CREATE DATABASE " + foreign);
  EXPECT_EQ(server.leftovers(), (std::set<std::string>{live, killed, foreign}));

  RunResult clean = run_pgrace({"clean", "--dsn", server.superuser()}, without_dsn());
  EXPECT_EQ(clean.exit_code, 0) << clean.out << clean.err;
  EXPECT_THAT(clean.out, HasSubstr("removed " + killed + ": its pgrace process"));
  EXPECT_THAT(clean.out, HasSubstr("kept    " + live + ": its pgrace process"));
  EXPECT_THAT(clean.out, HasSubstr("still running"));
  EXPECT_THAT(clean.out, HasSubstr("kept    " + foreign + ": made by pid 4242 on another machine"));
  EXPECT_THAT(clean.out, HasSubstr("removed 1, kept 2 databases"));
  EXPECT_THAT(clean.out + clean.err, Not(HasSubstr("superpw")));
  EXPECT_EQ(server.leftovers(), (std::set<std::string>{foreign, live}));

  running->signal(SIGINT);
  EXPECT_EQ(running->wait(30s), 130);
  server.exec("DROP DATABASE " + foreign);
  EXPECT_TRUE(server.leftovers().empty());
}

// A leftover whose process is gone but that someone is connected to (a
// psql session, say): pgrace clean keeps it, naming the session, and drops
// it once the session has ended (once: dropped WITH (FORCE), ending it).
TEST(FaultDsn, CleanKeepsALeftoverSomeoneIsConnectedTo) {
  PasswordServer server;
  std::string leftover = pgrace::detail::owned_database_name("run");
  const auto counter = leftover.rfind('_'), start = leftover.rfind('_', counter - 1);
  leftover.replace(start + 1, counter - start - 1, "1");  // our pid, another start: a process that is gone
  server.exec("CREATE DATABASE " + leftover);
  {
    auto session = pgrace::connect(server.url("pgsuper", "superpw", leftover) + "?application_name=somebody");
    pqxx::nontransaction tx(*session);
    const std::string pid = tx.exec("SELECT pg_backend_pid()")[0][0].as<std::string>();
    RunResult clean = run_pgrace({"clean", "--dsn", server.superuser()}, without_dsn());
    EXPECT_EQ(clean.exit_code, 0) << clean.out << clean.err;
    EXPECT_THAT(clean.out, HasSubstr("kept    " + leftover + ": its pgrace process"));
    EXPECT_THAT(clean.out, HasSubstr("is gone, but 1 session (pid " + pid +
                                     ", user pgsuper, application somebody, from 127.0.0.1) is connected to it"));
    EXPECT_THAT(clean.out, HasSubstr("removed 0, kept 1 database"));
    EXPECT_EQ(server.leftovers(), std::set<std::string>{leftover});
    EXPECT_NO_THROW(tx.exec("SELECT 1"));
  }
  EXPECT_TRUE(eventually(  // the session's backend may outlive its close for a moment
      [&] {
        run_pgrace({"clean", "--dsn", server.superuser()}, without_dsn());
        return server.leftovers().empty();
      },
      10s));
}

// Command: pgrace run T --dsn D, SIGKILL, then pgrace run T --dsn D (exit 0):
// the second run removes the first one's database.
TEST(FaultDsn, TheNextRunRemovesWhatAKilledRunLeft) {
  PasswordServer server;
  EXPECT_TRUE(server.leftovers().empty());
  std::string killed;
  {
    auto run = start_long_run(server, killed);
    run->signal(SIGKILL);
    run->wait(30s);
  }
  EXPECT_EQ(server.leftovers(), std::set<std::string>{killed});
  RunResult next =
      run_pgrace({"run", kScenario, "-q", "--iterations", "1", "--dsn", server.superuser()}, without_dsn());
  EXPECT_EQ(next.exit_code, 0) << next.err;
  EXPECT_TRUE(server.leftovers().empty());
}

// Without a server to clean: exit 2, one line naming --dsn.
TEST(FaultDsn, CleanWithoutADsnIsAUsageError) {
  RunResult r = run_pgrace({"clean"}, without_dsn());
  EXPECT_THAT(one_line_error(r, 2), HasSubstr("--dsn"));
}

TEST(DatabaseOwner, NamesIdentifyTheProcessThatMadeThem) {
  const std::string name = pgrace::detail::owned_database_name("run");
  EXPECT_LE(name.size(), 63u);
  EXPECT_NE(name, pgrace::detail::owned_database_name("run"));
  const auto me = pgrace::detail::database_owner(name);
  EXPECT_EQ(me.state, pgrace::detail::OwnerState::running);
  EXPECT_EQ(me.pid, getpid());

  // A child's name, once the child has exited, is gone; so is a name whose
  // pid runs but started at another time (a reused pid).
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const pid_t child = fork();
  if (child == 0) {
    const std::string child_name = pgrace::detail::owned_database_name("build");
    (void)!write(pipe_fds[1], child_name.data(), child_name.size());
    _exit(0);
  }
  close(pipe_fds[1]);
  char buffer[128] = {};
  (void)!read(pipe_fds[0], buffer, sizeof buffer - 1);
  close(pipe_fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  const auto dead = pgrace::detail::database_owner(buffer);
  EXPECT_EQ(dead.state, pgrace::detail::OwnerState::gone) << buffer;
  EXPECT_EQ(dead.pid, child);

  std::string reused = name;
  const auto counter = reused.rfind('_'), start = reused.rfind('_', counter - 1);
  reused.replace(start + 1, counter - start - 1, "1");
  EXPECT_EQ(pgrace::detail::database_owner(reused).state, pgrace::detail::OwnerState::gone) << reused;

  EXPECT_EQ(pgrace::detail::database_owner("pgrace_run_000000000000_1_1_0").state,
            pgrace::detail::OwnerState::elsewhere);
  for (const char* other : {"pgrace_transfer_for_update_13934_88598_1", "pgrace_tpl_e5d8efa7b2f33659", "postgres"})
    EXPECT_EQ(pgrace::detail::database_owner(other).state, pgrace::detail::OwnerState::unknown) << other;
}

// -------------------------------------------------------------- item 7

// Command: pgrace run T --dsn D (superuser), then pgrace run T --dsn
// <CREATEDB role>. Both exit 0 (once: the second failed with "permission
// denied to copy database", blaming CREATEDB).
TEST(FaultDsn, ACreatedbRoleRunsAfterASuperuserRun) {
  PasswordServer server;
  EXPECT_TRUE(server.leftovers().empty());
  server.exec("CREATE ROLE app LOGIN CREATEDB PASSWORD 'apppw'");
  for (const std::string& dsn : {server.superuser(), server.url("app", "apppw")}) {
    RunResult r = run_pgrace({"run", kScenario, "-q", "--iterations", "2", "--dsn", dsn}, without_dsn());
    EXPECT_EQ(r.exit_code, 0) << dsn << ": " << r.err;
  }
  EXPECT_TRUE(server.leftovers().empty());
}

// Command: pgrace run T --dsn <role without CREATEDB>. Exit 3, one line
// naming the role and ALTER ROLE ... CREATEDB.
TEST(FaultDsn, ARoleWithoutCreatedbIsToldHowToGetIt) {
  PasswordServer server;
  server.exec("CREATE ROLE plain LOGIN PASSWORD 'plainpw'");
  RunResult r = run_pgrace({"run", kScenario, "-q", "--dsn", server.url("plain", "plainpw")}, without_dsn());
  const std::string error = one_line_error(r, 3);
  EXPECT_THAT(error, HasSubstr("role \"plain\" may not create databases"));
  EXPECT_THAT(error, HasSubstr("ALTER ROLE \"plain\" CREATEDB"));
  EXPECT_TRUE(server.leftovers().empty());
}

// A template database of the name a role would use, made by another role:
// the error names the owner, the role and the fix (DROP DATABASE).
TEST(FaultDsn, ATemplateOfAnotherRoleIsNamedWithItsOwnerAndTheFix) {
  PasswordServer server;
  server.exec("CREATE ROLE app LOGIN CREATEDB PASSWORD 'apppw'");
  const std::string schema = "CREATE TABLE t (id int);";
  const std::string taken = pgrace::detail::template_name("app", schema);
  server.exec("CREATE DATABASE " + taken);
  try {
    pgrace::detail::ScenarioDatabase database(server.url("app", "apppw"), schema, "test.taken");
    FAIL() << "expected pgrace::Error";
  } catch (const pgrace::Error& e) {
    const std::string message = e.what();
    EXPECT_EQ(e.code(), pgrace::ExitCode::infrastructure);
    EXPECT_THAT(message, HasSubstr("test.taken"));
    EXPECT_THAT(message, HasSubstr(taken + " belongs to role \"pgsuper\""));
    EXPECT_THAT(message, HasSubstr("role \"app\" may not copy it"));
    EXPECT_THAT(message, HasSubstr("DROP DATABASE " + taken));
    EXPECT_THAT(message, Not(HasSubstr("CREATEDB")));
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
  EXPECT_TRUE(server.leftovers().empty());
}

// -------------------------------------------------------------- item 12

class BrokenSchema : public pgrace::Scenario {
 public:
  std::string schema() const override { return "CREATE TABLE fine (id int);\nCREATE TABLX broken (id int);"; }
  void seed(pqxx::work&) override {}
  pgrace::TxResult transaction(pgrace::Worker&) override { return pgrace::TxResult::committed; }
  std::vector<pgrace::Invariant> invariants() const override { return {}; }
};

// A scenario whose schema has a syntax error on line 2: usage error (exit 2),
// one line naming the scenario, the line and column, the server's message,
// and the fix (once: 4 lines); the half-built database is dropped.
TEST(FaultDsn, ASchemaSyntaxErrorIsOneLineWithItsPosition) {
  PasswordServer server;
  auto opened = pgrace::Server::open(server.superuser());
  BrokenSchema scenario;
  const pgrace::ScenarioInfo info{"test.broken_schema", "a schema with a typo", pgrace::expect_hold(), {}};
  try {
    pgrace::run_scenario(*opened, info, scenario, pgrace::RunSettings{});
    FAIL() << "expected pgrace::Error";
  } catch (const pgrace::Error& e) {
    const std::string message = e.what();
    EXPECT_EQ(e.code(), pgrace::ExitCode::usage);
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    EXPECT_THAT(message, HasSubstr("test.broken_schema"));
    EXPECT_THAT(message, HasSubstr("line 2, column 8"));
    EXPECT_THAT(message, HasSubstr("syntax error at or near \"TABLX\""));
    EXPECT_THAT(message, HasSubstr("fix the SQL"));
  }
  EXPECT_TRUE(server.leftovers().empty());
  EXPECT_TRUE(server.databases("pgrace\\_tpl\\_%").empty());
}

// -------------------------------------------------------------- item 14

// Command: pgrace run T --threads 8 --dsn <role with CONNECTION LIMIT 2>.
// Exit 3, one line stating the limit and suggesting fewer --threads (once:
// "check that the server is up").
TEST(FaultDsn, ARoleConnectionLimitIsStatedWithTheFix) {
  PasswordServer server;
  server.exec("CREATE ROLE lim LOGIN CREATEDB PASSWORD 'limpw' CONNECTION LIMIT 2");
  RunResult r =
      run_pgrace({"run", kScenario, "-q", "--threads", "8", "--dsn", server.url("lim", "limpw")}, without_dsn());
  const std::string error = one_line_error(r, 3);
  EXPECT_THAT(error, HasSubstr("CONNECTION LIMIT 2"));
  EXPECT_THAT(error, HasSubstr("fewer --threads"));
  EXPECT_THAT(error, Not(HasSubstr("server is up")));
  EXPECT_THAT(error, Not(HasSubstr("limpw")));
  EXPECT_TRUE(server.leftovers().empty());
}

TEST(LostConnectionError, SaysWhichConnectionWasLostInOneLine) {
  const pgrace::Error e = pgrace::detail::lost_connection_error(
      "the monitor", "transfer.for_update", "Could not obtain client encoding: not connected.\n", "host=h");
  const std::string message = e.what();
  EXPECT_EQ(e.code(), pgrace::ExitCode::infrastructure);
  EXPECT_THAT(message, HasSubstr("lost the connection of the monitor"));
  EXPECT_THAT(message, HasSubstr("transfer.for_update"));
  EXPECT_THAT(message, Not(HasSubstr("client encoding")));
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  const std::string terminated =
      pgrace::detail::lost_connection_error("worker 3", "x",
                                            "FATAL:  terminating connection due to administrator "
                                            "command\nserver closed the connection unexpectedly",
                                            "host=h password=pw")
          .what();
  EXPECT_THAT(terminated, HasSubstr("worker 3"));
  EXPECT_THAT(terminated, HasSubstr("pg_terminate_backend"));
  EXPECT_EQ(terminated.find('\n'), std::string::npos) << terminated;
}

// Command: pgrace run T --dsn D --duration 3, then, once the workers run,
// pg_terminate_backend on the monitor's or a worker's session. Exit 3, one
// line naming which connection was lost (today: libpqxx's "Could not obtain
// client encoding: not connected.").
TEST(FaultDsn, ALostConnectionSaysWhichOneInOneLine) {
  PasswordServer server;
  auto sessions = [&](const std::string& sql, const std::string& name) {
    auto connection = pgrace::connect(server.superuser());
    pqxx::nontransaction tx(*connection);
    return tx.exec_params(sql + " FROM pg_stat_activity WHERE application_name = $1", name).size();
  };
  for (const std::string who : {"pgrace-monitor", "pgrace-worker-1"}) {
    SCOPED_TRACE(who);
    std::string database;
    auto run = start_long_run(server, database, "3");
    ASSERT_TRUE(eventually(
        [&] { return sessions("SELECT 1", "pgrace-monitor") + sessions("SELECT 1", "pgrace-worker-1") == 2; }, 10s));
    std::this_thread::sleep_for(300ms);  // the workers are past their setup
    EXPECT_EQ(sessions("SELECT pg_terminate_backend(pid)", who), 1u);
    EXPECT_EQ(run->wait(30s), 3);
    const std::string error = one_line_error(RunResult{3, run->out(), run->err(), 0}, 3);
    EXPECT_THAT(error, HasSubstr(who == "pgrace-monitor" ? "lost the connection of the invariant monitor"
                                                         : "lost the connection of worker 1"));
    EXPECT_THAT(error, Not(HasSubstr("client encoding")));
    EXPECT_TRUE(server.leftovers().empty());
  }
}

}  // namespace
