// Integration tests of the ephemeral PostgreSQL server (pgrace/server.hpp),
// against the real PostgreSQL installed on this machine.
//
// What these tests check: an ephemeral server is private and leaves nothing
// behind. While a pgrace::Server lives it answers queries through its DSN and
// its directory exists, belongs to us and is private (mode 0700; 0710 with
// the postgres account's group when we are root, so that account can reach
// its own 0700 data directory inside and nothing more); once the Server is destroyed its
// directory is gone and its postmaster no longer runs. Several servers may
// live at once, in one process or in several, and never share state: a write
// in one is invisible in another. Concurrent first starts against a cold
// template cache (two pgrace processes racing to run initdb and publish the
// template) both succeed, and exactly one template cluster ends up in the
// cache, with no instance directory left over.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <pqxx/nontransaction>
#include <pqxx/transaction>
#include <set>
#include <thread>

#include "pgrace/connection.hpp"
#include "pgrace/error.hpp"
#include "pgrace/server.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using namespace pgrace::test;
using ::testing::HasSubstr;

int select_one(const std::string& dsn) {
  auto connection = pgrace::connect(dsn);
  pqxx::nontransaction tx(*connection);
  return tx.exec("SELECT 1")[0][0].as<int>();
}

TEST(EphemeralServer, StartsAnswersAndLeavesNothingBehind) {
  auto server = pgrace::Server::open(std::nullopt);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(select_one(server->dsn()), 1);
  EXPECT_FALSE(server->version().empty());
  EXPECT_STREQ(server->source(), "ephemeral");

  const fs::path dir = server->directory();
  ASSERT_FALSE(dir.empty());
  struct stat st {};
  ASSERT_EQ(stat(dir.c_str(), &st), 0) << dir;
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_uid, geteuid());
  const bool as_root = geteuid() == 0;
  EXPECT_EQ(st.st_mode & 07777, as_root ? 0710u : 0700u) << std::oct << (st.st_mode & 07777);
  if (as_root) {
    EXPECT_EQ(st.st_gid, getpwnam("postgres")->pw_gid);
  }
  struct stat data {};
  ASSERT_EQ(stat((dir / "data").c_str(), &data), 0);
  EXPECT_EQ(data.st_uid, server_uid());
  EXPECT_EQ(data.st_mode & 07777, 0700u) << std::oct << (data.st_mode & 07777);

  const pgrace::ProvisionTimings& t = server->timings();
  EXPECT_GT(t.total_ms, 0);
  EXPECT_GT(t.start_ms, 0);
  EXPECT_GE(t.total_ms, t.start_ms);

  const pid_t postmaster = postmaster_pid(dir / "data");
  ASSERT_GT(postmaster, 0);
  EXPECT_FALSE(process_gone(postmaster));

  server.reset();
  EXPECT_FALSE(fs::exists(dir)) << dir;
  EXPECT_TRUE(eventually([&] { return process_gone(postmaster); }, 5000ms))
      << "postmaster " << postmaster << " still runs";
}

// Server settings go after pgrace's own: they override them, and the
// server knows them; one the server refuses is a usage error naming it,
// and leaves no server behind.
TEST(EphemeralServer, ServerSettingsOverridePgracesOwnAndARefusedOneIsAUsageError) {
  pgrace::EphemeralServerOptions options;
  options.settings = {{"lock_timeout", "25ms"}, {"deadlock_timeout", "123ms"}};
  {
    auto server = pgrace::Server::open(std::nullopt, options);
    auto connection = pgrace::connect(server->dsn());
    pqxx::nontransaction tx(*connection);
    EXPECT_EQ(tx.exec("SHOW lock_timeout")[0][0].as<std::string>(), "25ms");
    EXPECT_EQ(tx.exec("SHOW deadlock_timeout")[0][0].as<std::string>(), "123ms");
    EXPECT_EQ(server->settings(), options.settings);
  }
  const auto refusal = [](std::map<std::string, std::string> settings) {
    pgrace::EphemeralServerOptions bad;
    bad.settings = std::move(settings);
    try {
      pgrace::Server::open(std::nullopt, bad);
    } catch (const pgrace::Error& e) {
      EXPECT_EQ(e.code(), pgrace::ExitCode::usage) << e.what();
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_THAT(refusal({{"no_such_parameter", "1"}}), HasSubstr("refused a server setting"));
  EXPECT_THAT(refusal({{"no_such_parameter", "1"}}), HasSubstr("no_such_parameter"));
  EXPECT_THAT(refusal({{"lock_timeout", "soon"}}), HasSubstr("lock_timeout"));
  EXPECT_THAT(refusal({{"lock timeout", "1"}}), HasSubstr("is not a setting name"));
  EXPECT_THAT(refusal({{"lock_timeout", ""}}), HasSubstr("needs a value"));
  EXPECT_THAT(refusal({{"lock_timeout", "1\n"}}), HasSubstr("needs a value without control characters"));
  try {
    pgrace::Server::open(std::string("host=/nonexistent dbname=x"), options);
    FAIL() << "settings were accepted with a connection string";
  } catch (const pgrace::Error& e) {
    EXPECT_EQ(e.code(), pgrace::ExitCode::usage);
    EXPECT_THAT(e.what(), HasSubstr("apply to the ephemeral server"));
  }
}

TEST(EphemeralServer, DisplayDsnHasNoSecretsAndNamesTheServer) {
  auto server = pgrace::Server::open(std::nullopt);
  EXPECT_THAT(server->display_dsn(), HasSubstr(server->directory()));
  EXPECT_EQ(server->display_dsn(), server->dsn());  // trust authentication: no password to hide
}

TEST(EphemeralServer, TwoServersAtOnceAreIndependent) {
  auto first = pgrace::Server::open(std::nullopt);
  auto second = pgrace::Server::open(std::nullopt);
  EXPECT_EQ(select_one(first->dsn()), 1);
  EXPECT_EQ(select_one(second->dsn()), 1);
  EXPECT_NE(first->directory(), second->directory());
  EXPECT_NE(first->dsn(), second->dsn());

  {
    auto connection = pgrace::connect(first->dsn());
    pqxx::work tx(*connection);
    tx.exec("CREATE TABLE only_in_first (v int)");
    tx.exec("INSERT INTO only_in_first VALUES (7)");
    tx.commit();
  }
  {
    auto connection = pgrace::connect(first->dsn());
    pqxx::nontransaction tx(*connection);
    EXPECT_EQ(tx.exec("SELECT sum(v) FROM only_in_first")[0][0].as<int>(), 7);
  }
  {
    auto connection = pgrace::connect(second->dsn());
    pqxx::nontransaction tx(*connection);
    EXPECT_TRUE(tx.exec("SELECT to_regclass('only_in_first')")[0][0].is_null());
  }

  const fs::path first_dir = first->directory();
  first.reset();
  EXPECT_FALSE(fs::exists(first_dir));
  EXPECT_EQ(select_one(second->dsn()), 1) << "stopping one server must not touch the other";
}

TEST(EphemeralServer, ColdCacheConcurrentStartsShareOneTemplate) {
  TempDir tmp;
  const EnvOverrides env = without_dsn({{"PGRACE_TMPDIR", tmp.path().string()}});

  // Both children are started before either is waited for, so they race for
  // the cold cache.
  Child a({pgrace_binary(), "smoke"}, env);
  Child b({pgrace_binary(), "smoke"}, env);
  const auto code_a = a.wait(120s);
  const auto code_b = b.wait(120s);
  ASSERT_TRUE(code_a && code_b) << "pgrace smoke did not finish";
  EXPECT_EQ(*code_a, 0) << a.out() << a.err();
  EXPECT_EQ(*code_b, 0) << b.out() << b.err();
  EXPECT_THAT(a.out(), HasSubstr("SELECT 6 * 7 = 42"));
  EXPECT_THAT(b.out(), HasSubstr("SELECT 6 * 7 = 42"));
  // At least one of them filled the cache (both may have run initdb; one won).
  EXPECT_TRUE(a.out().find("initdb") != std::string::npos || b.out().find("initdb") != std::string::npos)
      << a.out() << b.out();

  std::set<std::string> entries;
  for (const auto& entry : fs::directory_iterator(tmp.path())) entries.insert(entry.path().filename());
  const std::string cache_name = "pgrace-cache-" + std::to_string(server_uid());
  EXPECT_EQ(entries, std::set<std::string>{cache_name});

  std::vector<std::string> cached;
  if (fs::is_directory(tmp.path() / cache_name))
    for (const auto& entry : fs::directory_iterator(tmp.path() / cache_name)) cached.push_back(entry.path().filename());
  ASSERT_EQ(cached.size(), 1u) << ::testing::PrintToString(cached);
  EXPECT_EQ(cached[0].rfind("pg-", 0), 0u) << cached[0];

  // A third start is a cache hit.
  const RunResult warm = run_pgrace({"smoke"}, env);
  EXPECT_EQ(warm.exit_code, 0) << warm.err;
  EXPECT_THAT(warm.out, HasSubstr("cached template"));
}

// The template cache belongs to the server account, which can change it (by
// accident or not). Each change below once broke every later run, or went
// unnoticed; now the run names the cache and what is wrong in one line,
// rebuilds it and goes on (exit 0), and the next run is a cache hit again.
// A link planted in place of the cache is moved aside, not followed.
TEST(EphemeralServer, ACorruptTemplateCacheIsNamedAndRebuilt) {
  TempDir tmp;
  const EnvOverrides env = without_dsn({{"PGRACE_TMPDIR", tmp.path().string()}});
  ASSERT_EQ(run_pgrace({"smoke"}, env).exit_code, 0);
  const fs::path cache = tmp.path() / ("pgrace-cache-" + std::to_string(server_uid()));
  const auto entries = [&] {
    std::vector<fs::path> found;
    for (const auto& entry : fs::directory_iterator(cache)) found.push_back(entry.path());
    return found;
  };
  ASSERT_EQ(entries().size(), 1u);
  const fs::path cached = entries()[0];
  const std::vector<std::pair<std::string, std::function<void()>>> corruptions = {
      {"PG_VERSION has changed", [&] { std::ofstream(cached / "PG_VERSION", std::ios::trunc) << "xx\n"; }},
      {"global/pg_control is missing", [&] { fs::remove(cached / "global" / "pg_control"); }},
      {"base/1/1259 has 0 bytes", [&] { fs::resize_file(cached / "base" / "1" / "1259", 0); }},
      {"its manifest pgrace-manifest is missing", [&] { fs::remove(cached / "pgrace-manifest"); }},
      {"its manifest pgrace-manifest is cut short", [&] { fs::resize_file(cached / "pgrace-manifest", 100); }},
      {"not a directory",
       [&] {
         fs::remove_all(cached);
         fs::create_directory_symlink(tmp.path(), cached);
       }},
  };
  for (const auto& [defect, corrupt] : corruptions) {
    SCOPED_TRACE(defect);
    corrupt();
    const RunResult rebuilt = run_pgrace({"smoke"}, env);
    EXPECT_EQ(rebuilt.exit_code, 0) << rebuilt.out << rebuilt.err;
    EXPECT_THAT(rebuilt.err,
                ::testing::StartsWith("pgrace: the template cache " + cached.string() + " is corrupt (" + defect));
    EXPECT_THAT(rebuilt.err, ::testing::EndsWith("): rebuilding it\n"));
    EXPECT_EQ(std::count(rebuilt.err.begin(), rebuilt.err.end(), '\n'), 1) << rebuilt.err;
    const RunResult warm = run_pgrace({"smoke"}, env);
    EXPECT_EQ(warm.exit_code, 0) << warm.err;
    EXPECT_EQ(warm.err, "");
    EXPECT_THAT(warm.out, HasSubstr("cached template"));
    EXPECT_EQ(entries(), std::vector<fs::path>{cached});
  }
  EXPECT_TRUE(fs::is_directory(tmp.path()));
}

}  // namespace
