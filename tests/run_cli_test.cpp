// Process-level tests of `pgrace list` and `pgrace run` (the pgrace program
// itself, as a child process): exit codes (0 all matched, 1 a mismatch,
// 2 usage, 3 infrastructure), the JSON and JUnit reports, and that a bad
// command line fails before any server starts and before any report is
// written, and that a password in a DSN never shows.
//
// The invariant the `run` tests check end to end: `run 'transfer.*'` on an
// ephemeral server (the nine stress scenarios of scenarios/transfer.cpp and
// the interleave ones) matches every bundled expectation and says so with exit
// code 0 and a report whose every scenario is matched; and when the database
// makes an unsafe scenario safe (read-modify-write at SERIALIZABLE with
// retries) the run reports verdict "held", matched false, and exits 1.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using namespace pgrace::test;
using ::testing::HasSubstr;
using ::testing::Not;

const std::set<std::string> kTransferNames = {
    "transfer.article_fix", "transfer.article_guarded",      "transfer.check_then_debit",
    "transfer.for_update",  "transfer.for_update_unordered", "transfer.pool_checkout",
    "transfer.pool_misuse", "transfer.read_modify_write",    "transfer.serializable_retry",
};
const std::set<std::string> kExpectViolation = {"transfer.article_fix", "transfer.check_then_debit",
                                                "transfer.for_update_unordered", "transfer.pool_misuse",
                                                "transfer.read_modify_write"};

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

int count_lines(const std::string& text) {
  int lines = 0;
  for (char c : text) lines += c == '\n';
  if (!text.empty() && text.back() != '\n') ++lines;
  return lines;
}

// The environment for a run that must fail before starting a server: no DSN,
// and server directories (and the template cache) under the empty `tmp`, so
// the test can see that nothing was started. Runs that do start a server use
// the default directory, where the template cache is warm.
EnvOverrides env_in(const TempDir& tmp) { return without_dsn({{"PGRACE_TMPDIR", tmp.path().string()}}); }

bool is_empty_dir(const fs::path& dir) { return fs::is_empty(dir); }

std::string output_of(const RunResult& r) {
  return "exit " + std::to_string(r.exit_code) + " after " + std::to_string(r.seconds) + " s\nstdout:\n" + r.out +
         "\nstderr:\n" + r.err;
}

TEST(CliList, ListsAllTransferScenarios) {
  const RunResult r = run_pgrace({"list"});
  ASSERT_EQ(r.exit_code, 0) << output_of(r);
  std::set<std::string> listed;
  static const std::regex name(R"(^(transfer\.[a-z_]+)\s+\[expect (hold|violation))");
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_search(line, m, name) && kTransferNames.count(m.str(1))) {
      listed.insert(m.str(1));
      EXPECT_EQ(m.str(2) == "violation", kExpectViolation.count(m.str(1)) > 0) << line;
    }
  }
  EXPECT_EQ(listed, kTransferNames) << r.out;
}

TEST(CliList, JsonListParsesAndHasExpectations) {
  const RunResult r = run_pgrace({"list", "--json"});
  ASSERT_EQ(r.exit_code, 0) << output_of(r);
  const auto list = nlohmann::json::parse(r.out);
  ASSERT_TRUE(list.is_array());
  std::set<std::string> listed;
  for (const auto& s : list) {
    const std::string name = s.at("name");
    EXPECT_TRUE(s.at("expectation").at("verdict") == "hold" || s.at("expectation").at("verdict") == "violation")
        << name;
    if (!kTransferNames.count(name)) continue;
    listed.insert(name);
    EXPECT_FALSE(s.at("description").get<std::string>().empty()) << name;
    const bool violation = kExpectViolation.count(name) > 0;
    EXPECT_EQ(s.at("expectation").at("verdict"), violation ? "violation" : "hold") << name;
    EXPECT_EQ(s.at("expectation").at("violated").empty(), !violation) << name;
  }
  EXPECT_EQ(listed, kTransferNames);
}

// Every transfer.* name `pgrace list --json` shows: the nine stress scenarios
// of scenarios/transfer.cpp and any others (the interleave ones).
std::set<std::string> listed_transfer_names() {
  const RunResult r = run_pgrace({"list", "--json"});
  std::set<std::string> names;
  if (r.exit_code != 0) return names;
  for (const auto& s : nlohmann::json::parse(r.out))
    if (s.at("name").get<std::string>().rfind("transfer.", 0) == 0) names.insert(s.at("name").get<std::string>());
  return names;
}

TEST(CliRun, AllTransferScenariosMatchAndReportsAreWritten) {
  const std::set<std::string> all_transfer = listed_transfer_names();
  ASSERT_TRUE(std::includes(all_transfer.begin(), all_transfer.end(), kTransferNames.begin(), kTransferNames.end()));
  TempDir tmp;
  const fs::path report = tmp.path() / "out" / "report.json";
  const fs::path junit = tmp.path() / "out" / "junit.xml";
  // At the scenarios' own defaults: what a user runs.
  const RunResult r =
      run_pgrace({"run", "transfer.*", "--report", report.string(), "--junit", junit.string(), "--seed", "7"},
                 without_dsn(), 180s);
  ASSERT_EQ(r.exit_code, 0) << output_of(r);
  const std::string n = std::to_string(all_transfer.size());
  EXPECT_THAT(r.out, HasSubstr(n + "/" + n + " scenarios matched"));

  const std::string text = slurp(report);
  const auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j.at("schema_version"), 1);
  EXPECT_EQ(j.at("exit_code"), 0);
  EXPECT_EQ(j.at("summary").at("scenarios"), all_transfer.size());
  EXPECT_EQ(j.at("summary").at("matched"), all_transfer.size());
  EXPECT_EQ(j.at("summary").at("mismatched"), 0);
  EXPECT_EQ(j.at("server").at("source"), "ephemeral");
  ASSERT_EQ(j.at("scenarios").size(), all_transfer.size());
  std::set<std::string> names;
  for (const auto& s : j.at("scenarios")) {
    const std::string name = s.at("name");
    names.insert(name);
    EXPECT_EQ(s.at("matched"), true) << name;
    if (!kTransferNames.count(name)) continue;  // an interleave scenario: its own tests judge it
    EXPECT_EQ(s.at("verdict"), kExpectViolation.count(name) ? "violated" : "held") << name;
    EXPECT_EQ(s.at("config").at("seed"), 7) << name;
    EXPECT_GE(s.at("config").at("threads"), 8) << name;
  }
  EXPECT_EQ(names, all_transfer);
  // An ephemeral server has no password: nothing to hide, nothing hidden.
  const std::string dsn = j.at("server").at("dsn");
  EXPECT_THAT(dsn, Not(HasSubstr("***")));
  EXPECT_THAT(text, Not(HasSubstr("password=")));

  const std::string xml = slurp(junit);
  EXPECT_THAT(xml, HasSubstr("<testsuite "));
  EXPECT_THAT(xml, HasSubstr("tests=\"" + n + "\" failures=\"0\" errors=\"0\""));
  int testcases = 0;
  for (std::size_t at = xml.find("<testcase "); at != std::string::npos; at = xml.find("<testcase ", at + 1))
    ++testcases;
  EXPECT_EQ(testcases, static_cast<int>(all_transfer.size()));
  for (const auto& entry : fs::directory_iterator(report.parent_path()))
    EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << entry.path();
}

// --server-setting reaches the ephemeral server and the report; a
// malformed one is refused in one line before any server starts.
TEST(CliRun, ServerSettingsReachTheServerAndTheReport) {
  TempDir tmp;
  const fs::path report = tmp.path() / "report.json";
  const RunResult r = run_pgrace({"run", "transfer.for_update", "--iterations", "2", "--server-setting",
                                  "lock_timeout=5s", "--server-setting", "work_mem=8MB", "--report", report.string()},
                                 without_dsn());
  ASSERT_EQ(r.exit_code, 0) << output_of(r);
  const auto j = nlohmann::json::parse(slurp(report));
  EXPECT_EQ(j.at("server").at("settings"), (nlohmann::json{{"lock_timeout", "5s"}, {"work_mem", "8MB"}}));
  for (const auto& [args, error] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--server-setting", "lock_timeout"}, "--server-setting needs name=value"},
           {{"--server-setting", "a=1", "--server-setting", "a=2"}, "--server-setting names a twice"},
           {{"--server-setting", "no_such_parameter=1"}, "refused a server setting"}}) {
    std::vector<std::string> command = {"run", "transfer.for_update", "--iterations", "2"};
    command.insert(command.end(), args.begin(), args.end());
    const RunResult refused = run_pgrace(command, without_dsn());
    EXPECT_EQ(refused.exit_code, 2) << output_of(refused);
    EXPECT_THAT(refused.err, HasSubstr(error)) << output_of(refused);
    EXPECT_EQ(std::count(refused.err.begin(), refused.err.end(), '\n'), 1) << refused.err;
  }
}

TEST(CliRun, MisspelledScenarioSuggestsTheRightOne) {
  TempDir tmp;
  const RunResult r = run_pgrace({"run", "transfer.for_updat"}, env_in(tmp), 30s);
  EXPECT_EQ(r.exit_code, 2) << output_of(r);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("did you mean transfer.for_update"));
  EXPECT_TRUE(is_empty_dir(tmp.path())) << "a server was started for a usage error";
}

TEST(CliRun, UnreadOptionFailsFastBeforeAnyServer) {
  TempDir tmp;
  const fs::path report = tmp.path() / "report.json";
  const RunResult r =
      run_pgrace({"run", "transfer.for_update", "-o", "nosuch=1", "--report", report.string()}, env_in(tmp), 30s);
  EXPECT_EQ(r.exit_code, 2) << output_of(r);
  EXPECT_THAT(r.err, HasSubstr("'nosuch'"));
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_LT(r.seconds, 2.0);
  EXPECT_FALSE(fs::exists(report));
  EXPECT_TRUE(is_empty_dir(tmp.path())) << "a server was started for a usage error";
  EXPECT_THAT(r.out, Not(HasSubstr("PostgreSQL")));
}

TEST(CliRun, BadKnobsAreUsageErrors) {
  TempDir tmp;
  const std::vector<std::vector<std::string>> bad = {
      {"--threads", "0"},    {"--threads", "257"}, {"--isolation", "bogus"}, {"--iterations", "0"},
      {"--repeat", "0"},     {"--retries", "-1"},  {"--sync", "sometimes"},  {"--duration", "0"},
      {"--threads", "many"}, {"-o", "novalue"},    {"-o", "accounts=1"},
  };
  for (const auto& extra : bad) {
    std::vector<std::string> args = {"run", "transfer.for_update"};
    args.insert(args.end(), extra.begin(), extra.end());
    const RunResult r = run_pgrace(args, env_in(tmp), 30s);
    EXPECT_EQ(r.exit_code, 2) << extra[0] << " " << extra[1] << "\n" << output_of(r);
    EXPECT_FALSE(r.err.empty());
    EXPECT_LT(r.seconds, 2.0) << extra[0] << " " << extra[1];
  }
  EXPECT_TRUE(is_empty_dir(tmp.path())) << "a server was started for a usage error";
}

TEST(CliRun, UnreachableDsnIsInfrastructureErrorWithoutSecretOrReport) {
  TempDir tmp;
  const fs::path report = tmp.path() / "report.json";
  const RunResult r = run_pgrace(
      {"run", "transfer.for_update", "--dsn", "postgresql://u:s3cret@127.0.0.1:1/x", "--report", report.string()},
      env_in(tmp), 60s);
  EXPECT_EQ(r.exit_code, 3) << output_of(r);
  EXPECT_THAT(r.err, Not(HasSubstr("s3cret")));
  EXPECT_THAT(r.out, Not(HasSubstr("s3cret")));
  EXPECT_FALSE(r.err.empty());
  EXPECT_FALSE(fs::exists(report)) << "a report was written for a run that never ran";
  EXPECT_LT(r.seconds, 10.0);
}

TEST(CliRun, UnmetExpectationExitsOneAndReportsIt) {
  TempDir tmp;
  const fs::path report = tmp.path() / "report.json";
  const fs::path junit = tmp.path() / "junit.xml";
  const RunResult r =
      run_pgrace({"run", "transfer.read_modify_write", "--isolation", "serializable", "--retries", "100", "--report",
                  report.string(), "--junit", junit.string(), "--junit-suite", "ci-job"},
                 without_dsn(), 120s);
  EXPECT_EQ(r.exit_code, 1) << output_of(r);
  EXPECT_THAT(r.out, HasSubstr("FAIL transfer.read_modify_write: held"));
  const auto j = nlohmann::json::parse(slurp(report));
  EXPECT_EQ(j.at("exit_code"), 1);
  EXPECT_EQ(j.at("summary").at("mismatched"), 1);
  ASSERT_EQ(j.at("scenarios").size(), 1u);
  const auto& s = j.at("scenarios")[0];
  EXPECT_EQ(s.at("name"), "transfer.read_modify_write");
  EXPECT_EQ(s.at("matched"), false);
  EXPECT_EQ(s.at("verdict"), "held");
  EXPECT_EQ(s.at("expectation").at("verdict"), "violation");
  EXPECT_EQ(s.at("config").at("isolation"), "serializable");
  EXPECT_EQ(s.at("config").at("max_retries"), 100);

  // JUnit as CI tools read it: the suite name given, the scenario's source,
  // a typed failure whose body says how to rerun it.
  const std::string xml = slurp(junit);
  EXPECT_THAT(xml, HasSubstr("<testsuite name=\"ci-job\""));
  std::smatch m;
  ASSERT_TRUE(std::regex_search(xml, m, std::regex(R"re(file="([^"]*)" line="(\d+)")re"))) << xml;
  EXPECT_THAT(m.str(1), ::testing::EndsWith("scenarios/transfer.cpp"));
  EXPECT_GT(std::stoi(m.str(2)), 0);
  EXPECT_THAT(xml, HasSubstr("<failure type=\"missed_violation\""));
  EXPECT_THAT(xml, HasSubstr("<property name=\"isolation\" value=\"serializable\"/>"));
  ASSERT_TRUE(std::regex_search(xml, m, std::regex("reproduce: ([^\n]*)\n"))) << xml;
  // The reproducer reruns it alone, with the same outcome.
  std::vector<std::string> argv;
  std::istringstream words(m.str(1));
  for (std::string w; words >> w;) argv.push_back(w);
  ASSERT_FALSE(argv.empty());
  EXPECT_EQ(argv[0], pgrace_binary());
  EXPECT_THAT(m.str(1), HasSubstr(" run transfer.read_modify_write --seed " + j.at("seed_text").get<std::string>()));
  const RunResult again = run(argv, without_dsn(), 120s);
  EXPECT_EQ(again.exit_code, 1) << output_of(again);
  EXPECT_THAT(again.out, HasSubstr("FAIL transfer.read_modify_write: held"));
  EXPECT_THAT(again.out, HasSubstr("serializable, seed " + j.at("seed_text").get<std::string>()));
}

// --shard I/N over N jobs runs every selected stress and check scenario
// exactly once, dealt in shards whose sizes differ by at most one, and
// every interleave scenario in every job, each job its share of the
// schedules (together each planned schedule once); each report says which
// shard.
TEST(CliRun, ShardsDealTheSelectionAndSplitInterleaveSchedules) {
  std::set<std::string> dealt_selection, split_selection;
  const RunResult list = run_pgrace({"list", "--json"});
  ASSERT_EQ(list.exit_code, 0) << output_of(list);
  for (const auto& s : nlohmann::json::parse(list.out)) {
    const std::string name = s.at("name");
    if (name.rfind("hermitage.g1", 0) == 0) split_selection.insert(name);
    if (name.rfind("plan.", 0) == 0) dealt_selection.insert(name);
  }
  ASSERT_EQ(split_selection.size(), 9u);
  ASSERT_EQ(dealt_selection.size(), 4u);
  TempDir tmp;
  std::multiset<std::string> dealt;
  std::map<std::string, long> explored, parts;  // per interleave scenario, over the shards
  std::vector<std::size_t> sizes;
  for (int i = 1; i <= 3; ++i) {
    const fs::path report = tmp.path() / ("shard" + std::to_string(i) + ".json");
    const RunResult r = run_pgrace(
        {"run", "hermitage.g1*", "plan.*", "--shard", std::to_string(i) + "/3", "--report", report.string(), "-q"},
        without_dsn(), 120s);
    ASSERT_EQ(r.exit_code, 0) << output_of(r);
    EXPECT_THAT(r.out, HasSubstr("(shard " + std::to_string(i) + "/3)"));
    const auto j = nlohmann::json::parse(slurp(report));
    EXPECT_EQ(j.at("shard"), (nlohmann::json{{"index", i}, {"count", 3}, {"selected", 13}}));
    std::size_t size = 0;
    for (const auto& s : j.at("scenarios")) {
      const std::string name = s.at("name");
      if (!split_selection.count(name)) {
        dealt.insert(name);
        ++size;
        continue;
      }
      const auto& shard = s.at("schedules").at("shard");
      EXPECT_EQ(shard.at("index"), i) << name;
      explored[name] += s.at("schedules").at("explored").get<long>();
      parts[name] = shard.at("parts").get<long>();
    }
    sizes.push_back(size);
  }
  EXPECT_EQ(std::set<std::string>(dealt.begin(), dealt.end()), dealt_selection) << "the union is not the selection";
  EXPECT_EQ(dealt.size(), dealt_selection.size()) << "a scenario ran in two shards";
  EXPECT_LE(*std::max_element(sizes.begin(), sizes.end()) - *std::min_element(sizes.begin(), sizes.end()), 1u);
  EXPECT_EQ(explored.size(), split_selection.size()) << "an interleave scenario missing from a shard";
  for (const auto& [name, n] : explored) EXPECT_EQ(n, parts[name]) << name << ": schedules over the shards";
}

// Seeds pgrace draws stay below 2^53, so a JSON reader that uses doubles
// (JavaScript, jq 1.6) reads them exactly; the report also has them as text.
TEST(CliRun, DrawnSeedsSurviveDoublesAndAreWrittenAsText) {
  TempDir tmp;
  for (int i = 0; i < 3; ++i) {
    const fs::path report = tmp.path() / "r.json";
    const RunResult r =
        run_pgrace({"explore", "transfer.lost_update_schedule", "-q", "--report", report.string()}, without_dsn(), 60s);
    ASSERT_EQ(r.exit_code, 0) << output_of(r);
    const auto j = nlohmann::json::parse(slurp(report));
    const std::uint64_t seed = j.at("seed").get<std::uint64_t>();
    EXPECT_LT(seed, std::uint64_t{1} << 53);
    EXPECT_EQ(static_cast<std::uint64_t>(static_cast<double>(seed)), seed);
    EXPECT_EQ(j.at("seed_text"), std::to_string(seed));
    EXPECT_EQ(j.at("scenarios")[0].at("config").at("seed_text"), std::to_string(seed));
  }
}

// A seed the user gives may be any 64-bit value; it is echoed exactly.
TEST(CliRun, LargestSeedWorks) {
  TempDir tmp;
  const fs::path report = tmp.path() / "r.json";
  const RunResult r =
      run_pgrace({"run", "transfer.article_guarded", "--seed", "18446744073709551615", "--report", report.string()},
                 without_dsn(), 60s);
  ASSERT_EQ(r.exit_code, 0) << output_of(r);
  EXPECT_THAT(r.out, HasSubstr("seed 18446744073709551615"));
  const auto j = nlohmann::json::parse(slurp(report));
  EXPECT_EQ(j.at("seed").get<std::uint64_t>(), 18446744073709551615u);
  EXPECT_EQ(j.at("seed_text"), "18446744073709551615");
}

TEST(CliRun, SeedIsEchoedInOutputAndReport) {
  TempDir tmp;
  const fs::path report = tmp.path() / "report.json";
  const RunResult r =
      run_pgrace({"run", "transfer.article_guarded", "--seed", "42", "--report", report.string()}, without_dsn(), 60s);
  ASSERT_EQ(r.exit_code, 0) << output_of(r);
  EXPECT_THAT(r.out, HasSubstr("seed 42"));
  const auto j = nlohmann::json::parse(slurp(report));
  EXPECT_EQ(j.at("seed"), 42);
  EXPECT_EQ(j.at("scenarios")[0].at("config").at("seed"), 42);
  EXPECT_EQ(j.at("scenarios")[0].at("outcomes").at("committed"), 10);
  EXPECT_EQ(j.at("scenarios")[0].at("outcomes").at("rejected"), 10);
}

// explore --------------------------------------------------------------------

// --schedule at statement level names requests that exist, or is refused
// as interleave mode refuses an unknown step: exit 2, one line naming the
// bad step and what exists, before any server starts and with no report.
TEST(CliExplore, AStatementScheduleNamingNoRequestIsAUsageError) {
  TempDir tmp;
  const fs::path report = tmp.path() / "r.json";
  for (const std::string schedule : {"w2.9 w1.7", "w1.1 w1.1"}) {
    const RunResult r = run_pgrace({"explore", "transfer.for_update", "--workers", "2", "--seed", "3", "--schedule",
                                    schedule, "--report", report.string()},
                                   env_in(tmp));
    EXPECT_EQ(r.exit_code, 2) << schedule << "\n" << output_of(r);
    EXPECT_EQ(count_lines(r.err), 1) << output_of(r);
    EXPECT_THAT(r.err, HasSubstr(schedule == "w2.9 w1.7"
                                     ? "step 'w2.9' is out of order: worker w2's next request there is w2.1"
                                     : "step 'w1.1' is out of order: worker w1's next request there is w1.2"))
        << output_of(r);
    EXPECT_FALSE(fs::exists(report));
  }
  // In order but past the worker's last request: found when the execution runs.
  const RunResult r = run_pgrace({"explore", "transfer.for_update", "--workers", "2", "--seed", "3", "--schedule",
                                  "w1.1 w1.2 w1.3 w1.4 w1.5 w1.6 w1.7 w1.8 w1.9", "--report", report.string()},
                                 without_dsn());
  EXPECT_EQ(r.exit_code, 2) << output_of(r);
  EXPECT_THAT(r.err, HasSubstr("names no request: worker w1 sent only w1.1 to w1.")) << output_of(r);
  EXPECT_FALSE(fs::exists(report));
}

// A partial statement-level exploration is an error, not a pass, and its
// line does not pass off the executions known so far (which grow with the
// limit) as the total.
TEST(CliExplore, APartialStatementExplorationFailsAndNamesNoTotal) {
  for (const std::string limit : {"2", "5"}) {
    const RunResult r = run_pgrace(
        {"explore", "transfer.for_update", "--workers", "2", "--seed", "3", "--draws", "1", "--max-schedules", limit},
        without_dsn());
    EXPECT_EQ(r.exit_code, 1) << output_of(r);
    EXPECT_THAT(r.out, HasSubstr("FAIL transfer.for_update (read committed): " + limit +
                                 " schedule(s) explored, more remain, 0 violated (expected hold)\n"
                                 "  inputs: 1 draw of the workers' w.rng() (--draws)\n"))
        << output_of(r);
    EXPECT_THAT(r.out, HasSubstr("a partial exploration is not a pass")) << output_of(r);
  }
}

// explore's first line says what was expected, as run's does; sections
// with nothing in them are not printed; -q prints the final line only.
TEST(CliExplore, TheLineSaysWhatWasExpectedAndEmptySectionsAreLeftOut) {
  // A switch bound below the fewest possible explores nothing: an error
  // verdict, with no schedule to count by switches.
  const RunResult none = run_pgrace({"explore", "queue.claim_unlocked", "--max-switches", "0"}, without_dsn());
  EXPECT_EQ(none.exit_code, 1) << output_of(none);
  EXPECT_THAT(none.out, HasSubstr("FAIL queue.claim_unlocked (read committed): 0 schedule(s) explored of 1680, 0 "
                                  "violated (expected violation of \"each job is claimed by one worker\")\n  error: "))
      << output_of(none);
  EXPECT_THAT(none.out, Not(HasSubstr("by context switches"))) << output_of(none);
  EXPECT_THAT(none.out, HasSubstr("\n0/1 scenarios matched their expectation\n")) << output_of(none);
  const RunResult ran = run_pgrace({"run", "queue.claim_unlocked", "--max-switches", "0"}, without_dsn());
  EXPECT_EQ(ran.exit_code, 1) << output_of(ran);
  EXPECT_THAT(ran.out, Not(HasSubstr("by context switches"))) << output_of(ran);
}

TEST(CliExplore, QuietPrintsTheFinalLineOnly) {
  TempDir tmp;
  const fs::path report = tmp.path() / "r.json";
  const RunResult r = run_pgrace(
      {"explore", "-q", "queue.claim_unlocked", "--max-switches", "0", "--report", report.string()}, without_dsn());
  EXPECT_EQ(r.exit_code, 1) << output_of(r);
  EXPECT_EQ(r.out, "0/1 scenarios matched their expectation; report: " + report.string() + "\n") << output_of(r);
  EXPECT_EQ(r.err, "") << output_of(r);
}

}  // namespace
