// Sharded exploration (RunSettings::shard, explore --shard I/N) on a real
// ephemeral PostgreSQL. The invariant of sharding: N runs with the same
// settings and shards 1/N .. N/N together explore exactly the executions
// one run without a shard explores, each judged by one shard. Checked for
// N = 2 and 3 on the multisets of executed (draw, schedule): an interleave
// scenario's planned schedules; a statement-level exploration of three
// input draws; and one with fault rules, whose faulted executions are
// planted by several parents. The shard that holds one run's reproducer
// names the same one (and the command line prints it the same, with the
// same exit code); a shard whose part is empty says so and passes.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "pgrace/report.hpp"
#include "pgrace/runner.hpp"
#include "pgrace/scenario.hpp"
#include "pgrace/server.hpp"
#include "pgrace/steps.hpp"
#include "scenario_support.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using namespace pgrace::test;
using ::testing::HasSubstr;

pgrace::Server& server() {
  static std::unique_ptr<pgrace::Server> s = pgrace::Server::open(std::nullopt);
  return *s;
}

const pgrace::ScenarioInfo kDoctors{"test.doctors", "", pgrace::expect_violation({"someone is on call"}),
                                    pgrace::Knobs{}};

// What one run explored: each judged execution as "draw D: steps" (draw -
// for an interleave scenario's own steps).
struct Explored {
  pgrace::ScenarioResult result;
  std::multiset<std::string> executed;
};

// Runs `run` (which runs a scenario with the settings it is given) with
// `settings` and `shard`, recording what it explored.
template <typename Run>
Explored explore(Run run, pgrace::RunSettings settings, std::optional<pgrace::ExplorationShard> shard) {
  Explored explored;
  settings.shard = shard;
  settings.on_explored = [&](std::optional<int> draw, const std::vector<std::string>& schedule) {
    explored.executed.insert("draw " + (draw ? std::to_string(*draw) : "-") + ": " + joined(schedule));
  };
  explored.result = run(settings);
  return explored;
}

// The shards of 2 and of 3 together explore what one run does, each
// execution in one shard; each shard explores something, is recorded as
// its shard, and agrees with the others on the parts. Returns the shards.
template <typename Run>
std::vector<Explored> expect_shards_partition(Run run, const pgrace::RunSettings& settings) {
  const Explored whole = explore(run, settings, std::nullopt);
  const pgrace::Exploration& x = whole.result.exploration;
  EXPECT_TRUE(x.stopped.empty()) << x.stopped;
  EXPECT_FALSE(x.shard);
  EXPECT_EQ(whole.executed.size(), static_cast<std::size_t>(x.explored));
  EXPECT_EQ(std::set<std::string>(whole.executed.begin(), whole.executed.end()).size(), whole.executed.size())
      << "one run explored an execution twice";
  EXPECT_GE(x.explored, 6);
  std::vector<Explored> all;
  for (int count : {2, 3}) {
    std::multiset<std::string> united;
    long violating = 0;
    for (int index = 1; index <= count; ++index) {
      Explored part = explore(run, settings, pgrace::ExplorationShard{index, count});
      const pgrace::Exploration& p = part.result.exploration;
      EXPECT_EQ(part.result.error, "") << "shard " << index << "/" << count;
      EXPECT_GT(p.explored, 0) << "shard " << index << "/" << count << " explored nothing";
      EXPECT_EQ(part.executed.size(), static_cast<std::size_t>(p.explored));
      EXPECT_EQ(p.total, static_cast<std::uint64_t>(p.explored)) << "its total is its own";
      if (p.shard) {
        EXPECT_EQ(p.shard->index, index);
        EXPECT_EQ(p.shard->count, count);
        EXPECT_FALSE(p.shard->empty());
      } else {
        ADD_FAILURE() << "shard " << index << "/" << count << " is not recorded";
      }
      united.insert(part.executed.begin(), part.executed.end());
      violating += p.violating;
      all.push_back(std::move(part));
    }
    EXPECT_EQ(united, whole.executed) << count << " shards did not explore, each once, what one run explores";
    EXPECT_EQ(violating, x.violating);
  }
  all.insert(all.begin(), whole);
  return all;
}

pgrace::ScenarioResult run_doctors(const pgrace::RunSettings& settings) {
  Doctors scenario;
  return pgrace::run_scenario(server(), kDoctors, scenario, settings);
}

// Statement level: the bundled scenario `name` on two workers, seed 1, at
// most one preemption, `draws` input draws.
auto statement_run(const std::string& name) {
  return [name](const pgrace::RunSettings& settings) { return run_registered(server(), name, settings); };
}
pgrace::RunSettings statement_settings(int draws) {
  pgrace::RunSettings settings;
  settings.statement_workers = 2;
  settings.seed = 1;
  settings.draws = draws;
  settings.max_switches = 1;
  return settings;
}

// Of the shards of `count` in `runs` (after the whole run, first), exactly
// one names the whole run's reproducer (its steps and draw), with the same
// replay command.
void expect_one_shard_names_the_reproducer(const std::vector<Explored>& runs, int count) {
  const auto& reproducer = runs.front().result.exploration.reproducer;
  ASSERT_TRUE(reproducer);
  pgrace::RunReport report;
  report.program = "pgrace";
  report.seed = 1;
  const std::string replay = pgrace::reproducer_command(report, runs.front().result);
  EXPECT_THAT(replay, HasSubstr("--schedule"));
  int naming = 0;
  for (const Explored& run : runs) {
    const auto& x = run.result.exploration;
    if (!x.shard || x.shard->count != count || !x.reproducer) continue;
    if (x.reproducer->schedule != reproducer->schedule || x.reproducer->draw != reproducer->draw) continue;
    ++naming;
    EXPECT_EQ(pgrace::reproducer_command(report, run.result), replay) << "it replays without --shard";
  }
  EXPECT_EQ(naming, 1) << "shards of " << count << " naming " << joined(reproducer->schedule);
}

TEST(ShardedExploration, InterleaveShardsTogetherRunEveryPlannedScheduleOnce) {
  pgrace::RunSettings settings;
  settings.seed = 1;
  const auto runs = expect_shards_partition(run_doctors, settings);
  EXPECT_EQ(runs.front().result.exploration.explored, 20);
  for (const Explored& run : runs) {
    if (!run.result.exploration.shard) continue;
    EXPECT_EQ(run.result.exploration.shard->parts, 20u);
  }
  expect_one_shard_names_the_reproducer(runs, 2);
  expect_one_shard_names_the_reproducer(runs, 3);
}

TEST(ShardedExploration, StatementShardsOfThreeDrawsTogetherExploreWhatOneRunDoes) {
  const auto runs = expect_shards_partition(statement_run("transfer.check_then_debit"), statement_settings(3));
  EXPECT_EQ(runs.front().result.exploration.draws, 3);
  // Every shard runs each draw's first execution, and judges those it owns:
  // the others it runs only to find its parts.
  std::map<int, long> judged_firsts;  // per shard count
  for (const Explored& run : runs)
    if (const auto& shard = run.result.exploration.shard) {
      EXPECT_EQ(run.result.exploration.draws, 3);
      judged_firsts[shard->count] += 3 - shard->discovery;
    }
  EXPECT_EQ(judged_firsts, (std::map<int, long>{{2, 3}, {3, 3}}));
  expect_one_shard_names_the_reproducer(runs, 2);
  expect_one_shard_names_the_reproducer(runs, 3);
}

// At --max-switches 0 the orders branching off a draw's first execution
// with a preemption are explored by nobody, and are no shard's part: each
// shard's parts are ones it explores.
TEST(ShardedExploration, StatementShardsWithinTheSwitchBoundDealOnlyWhatIsExplored) {
  pgrace::RunSettings settings = statement_settings(3);
  settings.max_switches = 0;
  const auto runs = expect_shards_partition(statement_run("transfer.check_then_debit"), settings);
  for (const Explored& run : runs) {
    const auto& shard = run.result.exploration.shard;
    if (!shard) continue;
    EXPECT_LE(shard->parts, static_cast<std::uint64_t>(runs.front().result.exploration.explored));
  }
}

TEST(ShardedExploration, StatementShardsWithFaultRulesTogetherExploreWhatOneRunDoes) {
  const auto runs = expect_shards_partition(statement_run("payment.retry_any_error"), statement_settings(2));
  EXPECT_GT(runs.front().result.exploration.faulted, 0);
  long faulted = 0;
  for (const Explored& run : runs) faulted += run.result.exploration.shard ? run.result.exploration.faulted : 0;
  EXPECT_EQ(faulted, 2 * runs.front().result.exploration.faulted) << "faulted executions in the shards of 2 and 3";
  expect_one_shard_names_the_reproducer(runs, 2);
  expect_one_shard_names_the_reproducer(runs, 3);
}

// Two planned schedules over three shards: the third explores nothing, says
// so, and passes; the report says which shard it was.
TEST(ShardedExploration, AShardBeyondASmallerSpaceIsEmptyAndSaysSo) {
  pgrace::RunSettings settings;
  settings.seed = 1;
  settings.max_schedules = 2;
  settings.shard = pgrace::ExplorationShard{3, 3};
  const auto r = run_doctors(settings);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.exploration.explored, 0);
  ASSERT_TRUE(r.exploration.shard);
  EXPECT_TRUE(r.exploration.shard->empty());
  EXPECT_EQ(r.exploration.shard->parts, 2u);
  EXPECT_TRUE(r.matched) << "an empty shard of a space smaller than the shards is no failure";
  EXPECT_THAT(pgrace::shard_text(r.exploration),
              HasSubstr("shard 3/3 explored nothing: the exploration has 2 planned schedule(s), fewer than the 3 "
                        "shards, and the other shards explore all of it"));
  EXPECT_EQ(pgrace::to_json(r).at("schedules").at("shard"),
            (nlohmann::json{{"index", 3}, {"count", 3}, {"parts", 2}, {"discovery", 0}, {"empty", true}}));
}

// At statement level too: one draw at no preemption has two parts, and the
// eighth of eight shards, having run the first execution only to learn
// that, explored nothing and passes.
TEST(ShardedExploration, AStatementShardBeyondItsPartsIsEmptyAndSaysSo) {
  pgrace::RunSettings settings = statement_settings(1);
  settings.max_switches = 0;
  settings.shard = pgrace::ExplorationShard{8, 8};
  const auto r = run_registered(server(), "transfer.check_then_debit", settings);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.exploration.explored, 0);
  ASSERT_TRUE(r.exploration.shard);
  EXPECT_TRUE(r.exploration.shard->empty());
  EXPECT_EQ(r.exploration.shard->discovery, 1);
  EXPECT_TRUE(r.matched);
  EXPECT_THAT(pgrace::shard_text(r.exploration), HasSubstr("shard 8/8 explored nothing"));
}

// The lines from "minimal reproducer" up to "also violating" or the last
// line ("1/1 scenarios matched ..."), without "(completed N)": the order
// in which a waiting request and the COMMIT that released it complete is
// the server's, and varies from run to run, sharded or not.
std::string reproducer_lines(const std::string& out) {
  const auto from = out.find("minimal reproducer");
  if (from == std::string::npos) return "";
  const auto also = out.find("also violating", from);
  const auto to = also != std::string::npos ? also : out.rfind('\n', out.find(" scenarios matched", from));
  return std::regex_replace(out.substr(from, to - from), std::regex(R"( \(completed \d+\))"), "");
}

// The parts of a reported schedule that name it: its steps, draw and violations.
nlohmann::json named(const nlohmann::json& schedule) {
  return {schedule.at("schedule"), schedule.at("draw"), schedule.at("violated")};
}

// A violating shard prints one run's reproducer, replay command included
// (--draw and --schedule, no --shard), and exits as one run does: 0 for a
// demonstration that violates as expected, 1 for a scenario expected to hold.
TEST(ShardedExploration, TheShardHoldingTheReproducerPrintsItAsOneRunDoes) {
  const std::vector<std::vector<std::string>> commands = {
      {"explore", "transfer.check_then_debit", "--workers", "2", "--seed", "1", "--max-switches", "1", "--draws", "3"},
      {"explore", "hermitage.g_single.repeatable_read", "--isolation", "read_committed", "--seed", "1"}};
  for (const auto& command : commands) {
    TempDir tmp;
    const fs::path whole_report = tmp.path() / "whole.json";
    auto args = command;
    args.insert(args.end(), {"--report", whole_report.string()});
    const RunResult whole = run_pgrace(args, without_dsn(), 120s);
    const std::string reproducer = reproducer_lines(whole.out);
    ASSERT_FALSE(reproducer.empty()) << whole.out << whole.err;
    const auto minimal = named(
        nlohmann::json::parse(read_text(whole_report)).at("scenarios").at(0).at("schedules").at("minimal_reproducer"));
    int printing = 0;
    for (int index = 1; index <= 2; ++index) {
      const fs::path report = tmp.path() / ("shard" + std::to_string(index) + ".json");
      args = command;
      args.insert(args.end(), {"--shard", std::to_string(index) + "/2", "--report", report.string()});
      const RunResult part = run_pgrace(args, without_dsn(), 120s);
      EXPECT_THAT(part.out, HasSubstr(": shard " + std::to_string(index) + "/2: ")) << part.out;
      EXPECT_THAT(part.out, HasSubstr("(shard " + std::to_string(index) + "/2)"));
      const auto j = nlohmann::json::parse(read_text(report));
      EXPECT_EQ(j.at("shard"), (nlohmann::json{{"index", index}, {"count", 2}, {"selected", 1}}));
      EXPECT_EQ(j.at("scenarios").at(0).at("schedules").at("shard").at("index"), index);
      if (reproducer_lines(part.out) != reproducer) continue;
      ++printing;
      EXPECT_EQ(part.exit_code, whole.exit_code) << part.out;
      EXPECT_EQ(named(j.at("scenarios").at(0).at("schedules").at("minimal_reproducer")), minimal);
    }
    EXPECT_EQ(printing, 1) << "shards printing one run's reproducer:\n" << reproducer;
  }
}

}  // namespace
