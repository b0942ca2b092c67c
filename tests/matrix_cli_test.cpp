// Process tests of the interleave-mode commands (`pgrace matrix`,
// `pgrace explore`, and `pgrace run` on an interleave scenario), running the
// pgrace program built alongside the tests against its own ephemeral server.
//
// What these tests check: `pgrace matrix` measures, on every run, the anomaly
// table Hermitage documents for PostgreSQL (written out below, not derived
// from pgrace): READ COMMITTED prevents G0, G1a, G1b, G1c and OTV and lets
// PMP, P4, G-single, G2-item and G2 occur; REPEATABLE READ lets only G2-item
// and G2 occur; SERIALIZABLE prevents all ten. It exits 0 and says every cell
// matches, in text and in JSON, twice in a row. `pgrace explore` prints the
// lost-update reproducer step by step, honours --max-schedules in its report,
// and refuses (exit 2) a stress scenario and a schedule naming an unknown step.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace {

using namespace pgrace::test;
using ::testing::HasSubstr;

const std::vector<std::string> kLevels = {"read committed", "repeatable read", "serializable"};

// Hermitage's PostgreSQL results, row by row: observed at RC, RR, SERIALIZABLE.
const std::vector<std::pair<std::string, std::vector<std::string>>> kExpectedTable = {
    {"G0", {"prevented", "prevented", "prevented"}},  {"G1a", {"prevented", "prevented", "prevented"}},
    {"G1b", {"prevented", "prevented", "prevented"}}, {"G1c", {"prevented", "prevented", "prevented"}},
    {"OTV", {"prevented", "prevented", "prevented"}}, {"PMP", {"occurs", "prevented", "prevented"}},
    {"P4", {"occurs", "prevented", "prevented"}},     {"G-single", {"occurs", "prevented", "prevented"}},
    {"G2-item", {"occurs", "occurs", "prevented"}},   {"G2", {"occurs", "occurs", "prevented"}},
};

std::string show(const RunResult& r) {
  return "exit " + std::to_string(r.exit_code) + " after " + std::to_string(r.seconds) + " s\nstdout:\n" + r.out +
         "\nstderr:\n" + r.err;
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(MatrixCli, PrintsTheExpectedTableAndEveryCellMatchesTwiceInARow) {
  for (int run_index = 0; run_index < 2; ++run_index) {
    SCOPED_TRACE("run " + std::to_string(run_index + 1));
    const RunResult r = run_pgrace({"matrix"}, without_dsn());
    ASSERT_EQ(r.exit_code, 0) << show(r);
    EXPECT_THAT(r.out, HasSubstr("every cell matches")) << show(r);
    // Each row: the anomaly, then one word per level, in the order of kLevels.
    const auto lines = split_lines(r.out);
    for (const auto& [anomaly, cells] : kExpectedTable) {
      bool found = false;
      for (const auto& line : lines) {
        std::istringstream words(line);
        std::string first;
        if (!(words >> first) || first != anomaly) continue;
        found = true;
        std::vector<std::string> rest;
        for (std::string w; words >> w;) rest.push_back(w);
        EXPECT_EQ(rest, cells) << anomaly << ": " << line;
      }
      EXPECT_TRUE(found) << "no row for " << anomaly << "\n" << show(r);
    }
  }
}

TEST(MatrixCli, JsonHasTenRowsThreeLevelsAndTheExpectedTableTwiceInARow) {
  for (int run_index = 0; run_index < 2; ++run_index) {
    SCOPED_TRACE("run " + std::to_string(run_index + 1));
    const RunResult r = run_pgrace({"matrix", "--json"}, without_dsn());
    ASSERT_EQ(r.exit_code, 0) << show(r);
    nlohmann::json j;
    ASSERT_NO_THROW(j = nlohmann::json::parse(r.out)) << show(r);
    EXPECT_EQ(j.at("levels"), nlohmann::json(kLevels));
    EXPECT_EQ(j.at("differing_cells"), 0);
    const auto& rows = j.at("rows");
    ASSERT_EQ(rows.size(), kExpectedTable.size()) << j.dump(2);
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const auto& [anomaly, cells] = kExpectedTable[i];
      EXPECT_EQ(rows[i].at("anomaly"), anomaly);
      ASSERT_EQ(rows[i].at("cells").size(), kLevels.size()) << rows[i].dump();
      for (std::size_t l = 0; l < kLevels.size(); ++l) {
        const auto& cell = rows[i].at("cells").at(kLevels[l]);
        EXPECT_EQ(cell.at("observed"), cells[l]) << anomaly << " at " << kLevels[l];
        EXPECT_EQ(cell.at("expected"), cells[l]) << anomaly << " at " << kLevels[l];
        EXPECT_EQ(cell.at("matches"), true) << anomaly << " at " << kLevels[l];
      }
    }
  }
}

TEST(InterleaveCli, ExploreLostUpdateSchedulePrintsTheMinimalReproducerStepByStep) {
  const RunResult r = run_pgrace({"explore", "transfer.lost_update_schedule"}, without_dsn());
  ASSERT_EQ(r.exit_code, 0) << show(r);
  const auto at = r.out.find("minimal reproducer");
  ASSERT_NE(at, std::string::npos) << show(r);
  EXPECT_THAT(r.out, HasSubstr("\"total balance is conserved\"")) << show(r);
  // The listed schedule b1 b2 r1 r2 w1 c1 w2 c2 (5 context switches),
  // shrunk to the first reordering with fewer switches that still loses
  // money: b1 r1 b2 r2 w2 c2 w1 c1 (2), steps numbered in that order.
  EXPECT_THAT(r.out, HasSubstr("2 context switch(es)), shrunk from the first violating schedule found "
                               "(b1 b2 r1 r2 w1 c1 w2 c2):\n  - reordered the steps: 5 -> 2 context switches"))
      << show(r);
  const std::vector<std::string> expected = {"1. s1 b1", "2. s1 r1", "3. s2 b2", "4. s2 r2",
                                             "5. s2 w2", "6. s2 c2", "7. s1 w1", "8. s1 c1"};
  std::size_t from = at;
  for (const auto& label : expected) {
    const auto found = r.out.find(label, from);
    ASSERT_NE(found, std::string::npos) << "no '" << label << "' after the previous step\n" << show(r);
    from = found + label.size();
  }
  EXPECT_THAT(r.out, HasSubstr("UPDATE accounts SET balance = 110 WHERE id = 2")) << show(r);  // w1 overwrites w2
}

TEST(InterleaveCli, ExploreRefusesAStressScenario) {
  const RunResult r = run_pgrace({"explore", "transfer.for_update"}, without_dsn());
  EXPECT_EQ(r.exit_code, 2) << show(r);
  EXPECT_THAT(r.err, HasSubstr("transfer.for_update")) << show(r);
}

TEST(InterleaveCli, ExploreRefusesAScheduleNamingAnUnknownStep) {
  const RunResult r = run_pgrace({"explore", "transfer.lost_update_schedule", "--schedule", "b1 zz"}, without_dsn());
  EXPECT_EQ(r.exit_code, 2) << show(r);
  EXPECT_THAT(r.err, HasSubstr("zz")) << show(r);
}

TEST(InterleaveCli, ExploreWithMaxSchedulesReportsThatManySchedules) {
  TempDir dir;
  const fs::path report = dir.path() / "R.json";
  const RunResult r = run_pgrace({"explore", "transfer.lost_update_schedule_for_update", "--max-schedules", "10",
                                  "--seed", "7", "--report", report.string()},
                                 without_dsn());
  ASSERT_EQ(r.exit_code, 0) << show(r);
  nlohmann::json j;
  ASSERT_NO_THROW(j = nlohmann::json::parse(slurp(report))) << slurp(report);
  ASSERT_EQ(j.at("scenarios").size(), 1u);
  const auto& s = j.at("scenarios")[0];
  EXPECT_EQ(s.at("repetitions"), 10) << s.dump(2);
  EXPECT_EQ(s.at("mode"), "interleave");
  EXPECT_EQ(s.at("schedules").at("explored"), 10);
  EXPECT_EQ(s.at("schedules").at("total"), 70);
  EXPECT_EQ(s.at("schedules").at("violating"), 0);
}

TEST(InterleaveCli, RunAcceptsAnInterleaveScenario) {
  const RunResult r = run_pgrace({"run", "transfer.lost_update_schedule"}, without_dsn());
  EXPECT_EQ(r.exit_code, 0) << show(r);
  EXPECT_THAT(r.out, HasSubstr("minimal reproducer: b1 r1 b2 r2 w2 c2 w1 c1")) << show(r);
}

}  // namespace
