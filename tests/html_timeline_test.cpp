// Tests of the HTML timeline page (pgrace/report.hpp's to_html()).
//
// The invariant: whatever text a scenario brings (SQL, witnesses, names),
// the page's embedded data is exactly that text and nothing in it can end
// the data's <script> element or start markup: the page holds as many
// "</script>" as its template, and the data element's content parses back
// to the same JSON. A failed GoogleTest assertion on a real run writes the
// run's page and names it. (The page's rendering in a real browser is
// tests/html_browser_test.py.)

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "pgrace/gtest.hpp"
#include "pgrace/report.hpp"
#include "test_support.hpp"

namespace {

using ::testing::HasSubstr;
using namespace pgrace::test;

const std::string kHostile = "</script><script>alert(1)</script><!-- </SCRIPT >";

// The page's "</script>" closing tags, case-insensitively.
int closing_script_tags(std::string page) {
  for (char& c : page) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  int count = 0;
  for (auto at = page.find("</script"); at != std::string::npos; at = page.find("</script", at + 1)) ++count;
  return count;
}

// The text of the page's data element, up to its end tag.
std::string data_of(const std::string& page) {
  const std::string open = "<script id=\"pgrace-data\" type=\"application/json\">";
  const auto from = page.find(open) + open.size();
  return page.substr(from, page.find("</script>", from) - from);
}

pgrace::ScenarioResult hostile_result() {
  pgrace::ScenarioResult r;
  r.info.name = "hostile" + kHostile;
  r.info.description = kHostile;
  r.mode = pgrace::Mode::interleave;
  r.verdict = pgrace::Verdict::violated;
  pgrace::InvariantResult inv;
  inv.name = kHostile;
  inv.held = false;
  inv.witnesses = {kHostile, "invalid UTF-8 \xff"};
  r.invariants.push_back(inv);
  pgrace::ScheduleResult schedule;
  pgrace::StepRecord step;
  step.step = "s1";
  step.session = "a" + kHostile;
  step.sql = "SELECT '" + kHostile + "'";
  step.outcome = pgrace::StepOutcome::ok;
  schedule.steps.push_back(step);
  r.exploration.reproducer = schedule;
  r.server_log = {kHostile};
  return r;
}

TEST(HtmlTimeline, HostileTextCannotEndTheDataScriptAndComesBackUnchanged) {
  const auto result = hostile_result();
  const std::string page = pgrace::to_html({{result, "pgrace explore '" + kHostile + "'"}}, kHostile);
  const std::string empty_page = pgrace::to_html({}, "empty");
  EXPECT_EQ(closing_script_tags(page), closing_script_tags(empty_page));
  const std::string data = data_of(page);
  EXPECT_EQ(data.find('<'), std::string::npos);
  const auto json = nlohmann::json::parse(data);
  EXPECT_EQ(json["title"], kHostile);
  const auto& scenario = json["scenarios"][0];
  EXPECT_EQ(scenario["name"], "hostile" + kHostile);
  EXPECT_EQ(scenario["timelines"][0]["steps"][0]["sql"], "SELECT '" + kHostile + "'");
  EXPECT_EQ(scenario["invariants"][0]["witnesses"][0], kHostile);
  EXPECT_EQ(scenario["invariants"][0]["witnesses"][1], "invalid UTF-8 \xEF\xBF\xBD");
  EXPECT_EQ(scenario["replay"], "pgrace explore '" + kHostile + "'");
  EXPECT_EQ(scenario["server_log"][0], kHostile);
}

TEST(HtmlTimeline, AStressRunWithoutFaultsSaysHowToGetATimeline) {
  pgrace::ScenarioResult r;
  r.info.name = "some.scenario";
  r.stress.repetitions = 1;
  const auto json = nlohmann::json::parse(data_of(pgrace::to_html({{r, "pgrace run some.scenario"}}, "t")));
  EXPECT_TRUE(json["scenarios"][0]["timelines"].empty());
  EXPECT_THAT(json["scenarios"][0]["no_timeline"].get<std::string>(), HasSubstr("--fault delay_reply:1ms"));
  EXPECT_THAT(json["scenarios"][0]["no_timeline"].get<std::string>(),
              HasSubstr("pgrace explore some.scenario --workers 2"));
}

TEST(HtmlTimeline, AFailedAssertionWritesTheRunsPageAndNamesIt) {
  TempDir dir;
  ScopedEnv html_dir("PGRACE_HTML_DIR", dir.path().string());
  const auto result = pgrace::testing::run("transfer.lost_update_schedule");
  if (::testing::Test::IsSkipped()) return;
  const std::string message = pgrace::testing::Holds(result).message();
  const auto path =
      dir.path() / "HtmlTimeline.AFailedAssertionWritesTheRunsPageAndNamesIt.transfer.lost_update_schedule.html";
  EXPECT_THAT(message, HasSubstr("     timeline: " + path.string() + "\n"));
  std::ifstream file(path);
  ASSERT_TRUE(file) << path << " was not written";
  std::stringstream page;
  page << file.rdbuf();
  const auto json = nlohmann::json::parse(data_of(page.str()));
  const auto& scenario = json["scenarios"][0];
  EXPECT_EQ(scenario["name"], "transfer.lost_update_schedule");
  EXPECT_EQ(scenario["verdict"], "violated");
  EXPECT_EQ(scenario["timelines"][0]["steps"].size(), result.exploration.reproducer->steps.size());
  EXPECT_THAT(scenario["replay"].get<std::string>(), HasSubstr("PGRACE_SEED="));
}

}  // namespace
