// Unit tests of the reports as CI tools read them (no server): JUnit XML
// with failure/error types, properties, file and line, a failure body with
// witnesses and a reproducer, well-formed for any text; the JSON seed as a
// string too; and the source location PGRACE_REGISTER_SCENARIO records.
//
// The invariant: whatever a scenario's name, witnesses or error contain
// (markup, quotes, control characters, invalid UTF-8), the JUnit file is
// well-formed XML that a real parser (Python's expat) reads back with the
// same structure, and every failure says how to rerun it.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "pgrace/report.hpp"
#include "pgrace/scenario.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

// Markup, quotes, a control character, a tab, CR and invalid UTF-8.
const std::string kNasty = std::string("<&\"'> \x01\x1f tab\t cr\r bad\xff\xc3 end");

pgrace::ScenarioResult violated_result() {
  pgrace::ScenarioResult r;
  r.info.name = "demo." + kNasty;
  r.info.expectation = pgrace::expect_hold();
  r.info.source_file = "scenarios/demo.cpp";
  r.info.source_line = 42;
  r.knobs.threads = 8;
  r.knobs.iterations = 50;
  r.knobs.isolation = pgrace::Isolation::repeatable_read;
  r.seed = 9007199254740993;  // 2^53 + 1: not a double
  r.verdict = pgrace::Verdict::violated;
  r.matched = false;
  r.stress.repetitions = 4;
  r.stress.violating_runs = 3;
  r.invariants.push_back(
      {"no negative " + kNasty, pgrace::InvariantKind::no_rows, false, 3, {"(id=1, note=" + kNasty + ")"}, 1.5});
  r.invariants.push_back({"conserved", pgrace::InvariantKind::equals, true, 0, {}, std::nullopt});
  return r;
}

pgrace::ScenarioResult missed_result() {
  pgrace::ScenarioResult r;
  r.info.name = "demo.missed";
  r.info.expectation = pgrace::expect_violation({"conserved"});
  r.knobs.threads = 2;
  r.knobs.duration_s = 1.5;
  r.seed = 7;
  r.verdict = pgrace::Verdict::held;
  r.matched = false;
  r.stress.repetitions = 2;
  r.invariants.push_back({"conserved", pgrace::InvariantKind::equals, true, 0, {}, std::nullopt});
  return r;
}

pgrace::ScenarioResult error_result() {
  pgrace::ScenarioResult r;
  r.info.name = "demo.broken";
  r.info.expectation = pgrace::expect_hold();
  r.seed = 7;
  r.verdict = pgrace::Verdict::error;
  r.matched = false;
  r.error = "it threw: " + kNasty;
  r.stress.repetitions = 1;
  return r;
}

pgrace::ScenarioResult interleave_result() {
  pgrace::ScenarioResult r;
  r.info.name = "demo.schedule";
  r.info.expectation = pgrace::expect_hold();
  r.mode = pgrace::Mode::interleave;
  r.seed = 7;
  r.verdict = pgrace::Verdict::violated;
  r.matched = false;
  r.exploration.explored = 3;
  r.exploration.violating = 1;
  r.invariants.push_back(
      {"conserved", pgrace::InvariantKind::equals, false, 1, {"expected 300, got 290"}, std::nullopt});
  pgrace::ScheduleResult s;
  s.schedule = {"b1", "b2", "r1"};
  s.violated = {"conserved"};
  r.exploration.violating_schedules.push_back(s);
  s.schedule = {"b1", "r1"};  // shrunk
  r.exploration.reproducer = s;
  return r;
}

pgrace::RunReport report_of(std::vector<pgrace::ScenarioResult> results) {
  pgrace::RunReport report;
  report.tool_version = "0.1.0";
  report.started_at = "2026-01-02T03:04:05Z";
  report.server_source = "ephemeral";
  report.server_version = "15.18 " + kNasty;
  report.seed = 9007199254740993;
  report.repeat = 4;
  report.program = "./build/pgrace";
  report.shard = {2, 3, 7};
  report.scenario_options["demo.missed"] = {"accounts=3", "note=it's"};
  report.scenarios = std::move(results);
  report.exit_code = pgrace::exit_code_of(report.scenarios);
  return report;
}

// The elements of `xml` as Python's XML parser (expat, strict about
// well-formedness) reads them, in document order: {"tag", "attrib", "text"}.
// Fails the test if it does not parse.
std::vector<nlohmann::json> parsed_by_python(const std::string& xml) {
  pgrace::test::TempDir dir;
  const fs::path file = dir.path() / "junit.xml";
  std::ofstream(file, std::ios::binary) << xml;
  const char* script =
      "import json, sys, xml.etree.ElementTree as ET\n"
      "for e in ET.parse(sys.argv[1]).getroot().iter():\n"
      "    print(json.dumps({'tag': e.tag, 'attrib': e.attrib, 'text': e.text}))\n";
  const auto r = pgrace::test::run({"/usr/bin/python3", "-c", script, file.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err << "\n" << xml;
  std::vector<nlohmann::json> elements;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) elements.push_back(nlohmann::json::parse(line));
  return elements;
}

TEST(Junit, IsWellFormedForAnyTextAndKeepsItsStructure) {
  if (!fs::exists("/usr/bin/python3")) GTEST_SKIP() << "needs /usr/bin/python3 (apt-get install python3)";
  const auto report = report_of({violated_result(), missed_result(), error_result()});
  const auto elements = parsed_by_python(pgrace::to_junit(report, kNasty));
  ASSERT_FALSE(elements.empty());
  // Markup survives as text; control characters become \xNN; tab and CR in
  // attributes survive as character references; invalid UTF-8 is U+FFFD.
  const std::string readable = "<&\"'> \\x01\\x1F tab\t cr\r bad\xEF\xBF\xBD\xEF\xBF\xBD end";
  EXPECT_EQ(elements[0].at("tag"), "testsuites");
  EXPECT_EQ(elements[0].at("attrib").at("name"), readable);
  std::vector<nlohmann::json> cases, failures, errors;
  for (const auto& e : elements) {
    if (e.at("tag") == "testcase") cases.push_back(e);
    if (e.at("tag") == "failure") failures.push_back(e);
    if (e.at("tag") == "error") errors.push_back(e);
  }
  ASSERT_EQ(cases.size(), 3u);
  EXPECT_EQ(cases[0].at("attrib").at("name"), "demo." + readable);
  ASSERT_EQ(failures.size(), 2u);
  EXPECT_THAT(failures[0].at("text").get<std::string>(), HasSubstr("  (id=1, note=" + readable + ")\n"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].at("attrib").at("message"), "it threw: " + readable);
}

TEST(Junit, FailuresAndErrorsHaveTypesBodiesAndReproducers) {
  const std::string xml = pgrace::to_junit(report_of({violated_result(), missed_result(), error_result()}));
  EXPECT_THAT(xml, HasSubstr("<failure type=\"unexpected_violation\" message=\"expected hold, violated"));
  EXPECT_THAT(xml,
              HasSubstr("<failure type=\"missed_violation\" message=\"expected violation of &quot;conserved&quot;"));
  EXPECT_THAT(xml, HasSubstr("<error type=\"error\" message=\"it threw: "));
  // The body: the violated invariant, its witnesses, how to rerun.
  EXPECT_THAT(xml, HasSubstr("violated &quot;no negative &lt;&amp;&quot;&apos;&gt;"));
  EXPECT_THAT(xml, HasSubstr("(expected to hold) in 3/4 run(s); witnesses:\n  (id=1, note=&lt;&amp;"));
  EXPECT_THAT(xml, HasSubstr("expected &quot;conserved&quot; to be violated in every run; it held in 2/2 runs"));
  EXPECT_THAT(xml, HasSubstr("reproduce: ./build/pgrace run "));
  EXPECT_THAT(xml, HasSubstr("reproduce: ./build/pgrace run demo.missed --seed 7 --threads 2 --duration 1.5 "
                             "--isolation read_committed --sync round --retries 0 --repeat 4 -o accounts=3 "
                             "-o &apos;note=it&apos;\\&apos;&apos;s&apos;\n"));
  EXPECT_THAT(xml, HasSubstr("error: it threw: "));
  // The body is not the terminal summary (that stays in <system-out>).
  const std::string failure = xml.substr(xml.find("<failure"), xml.find("</failure>") - xml.find("<failure"));
  EXPECT_THAT(failure, Not(HasSubstr("FAIL ")));
}

TEST(Junit, PropertiesSuiteNameFileAndLine) {
  const std::string xml = pgrace::to_junit(report_of({violated_result(), missed_result()}), "nightly");
  EXPECT_THAT(xml, HasSubstr("<testsuites name=\"nightly\" tests=\"2\" failures=\"2\" errors=\"0\""));
  EXPECT_THAT(xml, HasSubstr("<testsuite name=\"nightly\" tests=\"2\""));
  // Suite properties: run-wide settings.
  const std::string suite = xml.substr(0, xml.find("<testcase"));
  EXPECT_THAT(suite, HasSubstr("<property name=\"seed\" value=\"9007199254740993\"/>"));
  EXPECT_THAT(suite, HasSubstr("<property name=\"server_version\" value=\"15.18 &lt;&amp;"));
  EXPECT_THAT(suite, HasSubstr("<property name=\"repeat\" value=\"4\"/>"));
  EXPECT_THAT(suite, HasSubstr("<property name=\"shard\" value=\"2/3\"/>"));
  // Testcase properties: that scenario's settings.
  const std::string first = xml.substr(xml.find("<testcase"), xml.find("</testcase>") - xml.find("<testcase"));
  EXPECT_THAT(first, HasSubstr("file=\"scenarios/demo.cpp\" line=\"42\""));
  EXPECT_THAT(first, HasSubstr("<property name=\"isolation\" value=\"repeatable read\"/>"));
  EXPECT_THAT(first, HasSubstr("<property name=\"threads\" value=\"8\"/>"));
  EXPECT_THAT(first, HasSubstr("<property name=\"seed\" value=\"9007199254740993\"/>"));
  EXPECT_THAT(first, HasSubstr("<property name=\"repeat\" value=\"4\"/>"));
  // No source location recorded: no file/line attributes.
  const std::string second = xml.substr(xml.find("<testcase", xml.find("</testcase>")));
  EXPECT_THAT(second.substr(0, second.find('>')), Not(HasSubstr("file=")));
  EXPECT_THAT(second.substr(0, second.find('>')), Not(HasSubstr("line=")));
}

TEST(Junit, SourceFileIsMadeRelativeForAnnotations) {
  auto absolute = violated_result();
  absolute.info.source_file = (fs::current_path() / "scenarios" / "x.cpp").string();
  auto relative = violated_result();
  relative.info.source_file = "../../scenarios/y.cpp";  // as ccache's base_dir makes __FILE__
  auto outside = violated_result();
  outside.info.source_file = "/elsewhere/z.cpp";
  const std::string xml = pgrace::to_junit(report_of({absolute, relative, outside}));
  EXPECT_THAT(xml, HasSubstr("file=\"scenarios/x.cpp\""));
  EXPECT_THAT(xml, HasSubstr("file=\"scenarios/y.cpp\""));
  EXPECT_THAT(xml, HasSubstr("file=\"/elsewhere/z.cpp\""));
}

TEST(Reproducer, InterleaveScenarioReplaysItsMinimalSchedule) {
  const auto report = report_of({interleave_result()});
  EXPECT_EQ(pgrace::reproducer_command(report, report.scenarios[0]),
            "./build/pgrace explore demo.schedule --isolation read_committed --schedule 'b1 r1'");
  auto none = interleave_result();
  none.exploration.violating_schedules.clear();
  none.exploration.reproducer.reset();
  EXPECT_EQ(pgrace::reproducer_command(report, none),
            "./build/pgrace explore demo.schedule --isolation read_committed --seed 9007199254740993");
}

TEST(Json, SeedIsAlsoWrittenAsText) {
  const nlohmann::json j = pgrace::to_json(report_of({missed_result()}));
  EXPECT_EQ(j.at("seed").get<std::uint64_t>(), 9007199254740993u);
  EXPECT_EQ(j.at("seed_text"), "9007199254740993");
  EXPECT_EQ(j.at("scenarios")[0].at("config").at("seed_text"), "7");
  EXPECT_EQ(j.at("shard"), (nlohmann::json{{"index", 2}, {"count", 3}, {"selected", 7}}));
  auto unsharded = report_of({missed_result()});
  unsharded.shard = {};
  EXPECT_TRUE(pgrace::to_json(unsharded).at("shard").is_null());
}

// PGRACE_REGISTER_SCENARIO records where it is; scenarios registered by
// calling register_scenario() themselves (hermitage.*) have no location.
TEST(Registry, MacroRecordsFileAndLine) {
  const pgrace::ScenarioInfo* transfer = nullptr;
  const pgrace::ScenarioInfo* hermitage = nullptr;
  for (const auto& d : pgrace::registered_scenarios()) {
    if (d.info.name == "transfer.for_update") transfer = &d.info;
    if (d.info.name == "hermitage.g0.read_committed") hermitage = &d.info;
  }
  ASSERT_TRUE(transfer && hermitage);
  EXPECT_THAT(transfer->source_file, ::testing::EndsWith("scenarios/transfer.cpp"));
  ASSERT_GT(transfer->source_line, 0);
  // That line of scenarios/transfer.cpp is the registration of that class.
  // A relative __FILE__ (ccache's base_dir) is relative to the build directory, where pgrace is.
  const fs::path file = fs::path(transfer->source_file).is_absolute()
                            ? fs::path(transfer->source_file)
                            : fs::path(pgrace::test::pgrace_binary()).parent_path() / transfer->source_file;
  std::ifstream source(file);
  ASSERT_TRUE(source) << file;
  std::string line;
  for (int i = 0; i < transfer->source_line; ++i) std::getline(source, line);
  EXPECT_THAT(line, HasSubstr("PGRACE_REGISTER_SCENARIO(")) << "line " << transfer->source_line << ": " << line;
  EXPECT_EQ(hermitage->source_file, "");
  EXPECT_EQ(hermitage->source_line, 0);
}

}  // namespace
