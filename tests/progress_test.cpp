// Progress of long runs on stderr: the engine's Progress reports, the
// command line's ProgressPrinter, and the pgrace program end to end.
//
// The invariant: a run that lasts more than two seconds shows how far it has
// got on stderr, and only there: on a terminal as one line redrawn in place
// ('\r' ... ESC[K), erased before any other output and at the end, trimmed
// to the terminal's width; elsewhere as plain "pgrace: <scenario>: ..."
// lines at most every 5 s. A shorter run shows nothing, -q shows nothing,
// and stdout never holds progress. The engine reports the scenario, the
// unit (transactions or schedules), done of total when known, the violations
// so far and the elapsed time, from the first moments of the run and then
// about once a second, in both modes.
//
// The printer's tests run without a server, on a fake clock and a string
// stream; the engine's and the program's run on ephemeral servers.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <sstream>

#include "pgrace/runner.hpp"
#include "pgrace/scenario.hpp"
#include "pgrace/server.hpp"
#include "pgrace/steps.hpp"
#include "progress_printer.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using pgrace::Progress;
using pgrace::ProgressUnit;
using pgrace::cli::ProgressPrinter;
using pgrace::cli::ProgressStyle;
using ::testing::HasSubstr;
using ::testing::Not;

// printer -----------------------------------------------------------------

Progress sample(long done = 1200) {
  Progress p;
  p.scenario = "transfer.no_lock";
  p.unit = ProgressUnit::transactions;
  p.done = done;
  p.total = 1600;
  p.violations = 1;
  p.elapsed_s = 4.04;
  return p;
}

// A printer on a string stream whose clock the test moves.
struct FakeTerminal {
  explicit FakeTerminal(ProgressStyle style, int columns = 80)
      : printer(
            out, style, [this] { return now; }, [columns] { return columns; }) {}
  // Shows `p` at `since_start` on the clock, the scenario having run as
  // long (unless `elapsed_s` says otherwise).
  void at(std::chrono::milliseconds since_start, Progress p, std::optional<double> elapsed_s = std::nullopt) {
    now = start + since_start;
    p.elapsed_s = elapsed_s.value_or(std::chrono::duration<double>(since_start).count());
    printer.show(p);
  }
  ProgressPrinter::Clock::time_point start{std::chrono::hours(1)};
  ProgressPrinter::Clock::time_point now = start;
  std::ostringstream out;
  ProgressPrinter printer;
};

TEST(ProgressText, CountsDoneOfTotalViolationsAndElapsedSeconds) {
  EXPECT_EQ(pgrace::cli::progress_text(sample()), "transfer.no_lock: 1200/1600 transactions, 1 violation, 4.0 s");
}

TEST(ProgressText, WithoutATotalSchedulesPluralViolationsAndRepetitions) {
  Progress p = sample(7);
  p.unit = ProgressUnit::schedules;
  p.total.reset();
  p.violations = 0;
  EXPECT_EQ(pgrace::cli::progress_text(p), "transfer.no_lock: 7 schedules, 0 violations, 4.0 s");
  p = sample();
  p.repetition = 1;
  p.repeat = 3;
  p.violations = 2;
  EXPECT_EQ(pgrace::cli::progress_text(p), "transfer.no_lock: run 2/3, 1200/1600 transactions, 2 violations, 4.0 s");
}

TEST(ProgressPrinter, PlainLinesStartAfterTwoSecondsThenEveryFiveSeconds) {
  FakeTerminal t(ProgressStyle::plain_lines);
  t.at(0ms, sample(1));
  t.at(1999ms, sample(2));
  EXPECT_EQ(t.out.str(), "");
  t.at(2000ms, sample(3));
  t.at(3000ms, sample(4));
  t.at(6999ms, sample(5));
  t.at(7000ms, sample(6));
  t.at(8000ms, sample(7));
  EXPECT_EQ(t.out.str(),
            "pgrace: transfer.no_lock: 3/1600 transactions, 1 violation, 2.0 s\n"
            "pgrace: transfer.no_lock: 6/1600 transactions, 1 violation, 7.0 s\n");
  t.printer.clear();  // nothing to erase in a log
  EXPECT_THAT(t.out.str(), Not(HasSubstr("\x1b")));
}

// The two seconds are the scenario's own: a scenario that starts after the
// server and earlier scenarios took longer shows nothing at 0.0 s (its
// first report), only once it has run 2 s itself.
TEST(ProgressPrinter, TheQuietStartCountsFromEachScenariosStart) {
  FakeTerminal t(ProgressStyle::plain_lines);
  t.at(9000ms, sample(0), 0.0);
  t.at(10000ms, sample(1), 1.0);
  EXPECT_EQ(t.out.str(), "");
  t.at(11000ms, sample(2), 2.0);
  EXPECT_EQ(t.out.str(), "pgrace: transfer.no_lock: 2/1600 transactions, 1 violation, 2.0 s\n");
  FakeTerminal in_place(ProgressStyle::line_in_place);
  in_place.at(9000ms, sample(0), 0.0);
  EXPECT_EQ(in_place.out.str(), "");
}

TEST(ProgressPrinter, LineInPlaceIsRedrawnOnEveryReportAndErasedOnce) {
  FakeTerminal t(ProgressStyle::line_in_place);
  t.at(1500ms, sample(1));
  t.printer.clear();
  EXPECT_EQ(t.out.str(), "");  // nothing shown, nothing to erase
  t.at(2100ms, sample(2));
  t.at(2200ms, sample(3));
  t.printer.clear();
  t.printer.clear();
  EXPECT_EQ(t.out.str(),
            "\rtransfer.no_lock: 2/1600 transactions, 1 violation, 2.1 s\x1b[K"
            "\rtransfer.no_lock: 3/1600 transactions, 1 violation, 2.2 s\x1b[K"
            "\r\x1b[K");
}

TEST(ProgressPrinter, LineInPlaceIsTrimmedToOneLessThanTheWidth) {
  FakeTerminal t(ProgressStyle::line_in_place, 21);
  t.at(3s, sample());
  EXPECT_EQ(t.out.str(), "\rtransfer.no_lock: 12\x1b[K");
}

TEST(ProgressPrinter, DestructorErasesAShownLine) {
  std::ostringstream out;
  const auto start = ProgressPrinter::Clock::now();
  auto now = start;
  {
    ProgressPrinter printer(out, ProgressStyle::line_in_place, [&now] { return now; });
    now = start + 3s;
    printer.show(sample());
  }
  EXPECT_THAT(out.str(), ::testing::EndsWith("\x1b[K\r\x1b[K"));
}

TEST(ProgressPrinter, StyleNoneShowsNothing) {
  FakeTerminal t(ProgressStyle::none);
  for (int s = 0; s < 20; ++s) t.at(std::chrono::seconds(s), sample());
  t.printer.clear();
  EXPECT_EQ(t.out.str(), "");
}

// engine ------------------------------------------------------------------

class ProgressReports : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!server_) server_ = pgrace::Server::open(std::nullopt);
  }
  static void TearDownTestSuite() { server_.reset(); }

  // Runs `scenario` with `settings`, collecting its progress reports.
  static std::vector<Progress> reports_of(const pgrace::ScenarioInfo& info, pgrace::Scenario& scenario,
                                          const pgrace::RunSettings& settings, pgrace::ScenarioResult& result) {
    std::vector<Progress> reports;
    result = pgrace::run_scenario(*server_, info, scenario, settings, [&](const Progress& p) { reports.push_back(p); });
    return reports;
  }
  static std::vector<Progress> reports_of_registered(const std::string& name, const pgrace::RunSettings& settings,
                                                     pgrace::ScenarioResult& result) {
    for (const auto& d : pgrace::registered_scenarios()) {
      if (d.info.name != name) continue;
      pgrace::Options options;
      auto scenario = d.make(options);
      return reports_of(d.info, *scenario, settings, result);
    }
    throw std::runtime_error("no registered scenario " + name);
  }

  static std::unique_ptr<pgrace::Server> server_;
};
std::unique_ptr<pgrace::Server> ProgressReports::server_;

std::string describe(const std::vector<Progress>& reports) {
  std::string out;
  for (const auto& p : reports) out += "\n  " + pgrace::cli::progress_text(p);
  return out;
}

void expect_monotonic(const std::vector<Progress>& reports) {
  for (std::size_t i = 1; i < reports.size(); ++i) {
    EXPECT_GE(reports[i].done, reports[i - 1].done) << describe(reports);
    EXPECT_GE(reports[i].elapsed_s, reports[i - 1].elapsed_s + 0.9) << describe(reports);  // about once a second
  }
}

TEST_F(ProgressReports, StressRunInDurationModeReportsTransactionsAboutOnceASecond) {
  pgrace::RunSettings settings;
  settings.duration_s = 2.5;
  settings.threads = 2;
  pgrace::ScenarioResult result;
  const auto reports = reports_of_registered("transfer.for_update", settings, result);
  ASSERT_GE(reports.size(), 2u) << describe(reports);  // at the start, and at least once a second later
  expect_monotonic(reports);
  long ended = 0;
  for (const auto& [kind, n] : result.outcomes) ended += n;
  for (const auto& p : reports) {
    EXPECT_EQ(p.scenario, "transfer.for_update");
    EXPECT_EQ(p.unit, ProgressUnit::transactions);
    EXPECT_FALSE(p.total) << "a timed run has no planned number of transactions";
    EXPECT_EQ(p.violations, 0);
    EXPECT_LE(p.done, ended);
  }
  EXPECT_GT(reports.back().done, 0) << describe(reports);
}

TEST_F(ProgressReports, StressRunInIterationModeReportsThePlannedTotalOfEveryRepetition) {
  pgrace::RunSettings settings;
  settings.iterations = 5;
  settings.threads = 2;
  settings.repeat = 2;
  pgrace::ScenarioResult result;
  const auto reports = reports_of_registered("transfer.for_update", settings, result);
  ASSERT_FALSE(reports.empty());
  const Progress& first = reports.front();
  EXPECT_EQ(first.done, 0);
  ASSERT_TRUE(first.total);
  EXPECT_EQ(*first.total, 2 * 5 * 2);
  EXPECT_EQ(first.repetition, 0);
  EXPECT_EQ(first.repeat, 2);
  EXPECT_LT(first.elapsed_s, 5.0);
}

// A test-only interleave scenario over t(id) whose one invariant is violated
// after every schedule; session s1 sleeps 0.4 s in its first step, so each of
// the six interleavings of two two-step sessions takes at least that long.
class SleepyScenario : public pgrace::Scenario {
 public:
  std::string schema() const override { return "CREATE TABLE t (id int PRIMARY KEY)"; }
  void seed(pqxx::work& tx) override { tx.exec("INSERT INTO t VALUES (1)"); }
  std::vector<pgrace::Session> sessions() const override {
    return {{"s1", "", {pgrace::sql_step("z1", "SELECT pg_sleep(0.4)"), pgrace::sql_step("q1", "SELECT 1")}},
            {"s2", "", {pgrace::sql_step("q2", "SELECT 2"), pgrace::sql_step("q3", "SELECT 3")}}};
  }
  std::vector<pgrace::Invariant> invariants() const override {
    return {pgrace::predicate(
        "violated by design", [](const pgrace::CheckContext&) -> std::vector<std::string> { return {"always"}; },
        false)};
  }
};

TEST_F(ProgressReports, InterleaveRunReportsSchedulesAndViolationsBetweenSchedules) {
  SleepyScenario scenario;
  pgrace::ScenarioInfo info;
  info.name = "test.progress.sleepy";
  info.description = "test-only";
  info.expectation = pgrace::expect_violation({"violated by design"});
  pgrace::ScenarioResult result;
  const auto reports = reports_of(info, scenario, {}, result);
  ASSERT_EQ(result.error, "");
  ASSERT_EQ(result.exploration.explored, 6);
  ASSERT_GE(reports.size(), 2u) << describe(reports);  // 6 x 0.4 s
  expect_monotonic(reports);
  EXPECT_EQ(reports.front().done, 0);
  for (const auto& p : reports) {
    EXPECT_EQ(p.scenario, "test.progress.sleepy");
    EXPECT_EQ(p.unit, ProgressUnit::schedules);
    EXPECT_EQ(p.total, std::optional<long>(6));
    EXPECT_EQ(p.violations, p.done) << "every schedule ran so far violated" << describe(reports);
    EXPECT_LT(p.done, 6);
  }
}

// the program -------------------------------------------------------------

using pgrace::test::RunResult;

std::string output_of(const RunResult& r) {
  return "exit " + std::to_string(r.exit_code) + " after " + std::to_string(r.seconds) + " s\nstdout:\n" + r.out +
         "\nstderr:\n" + r.err;
}

const std::regex kStressLine(
    R"((^|\n)pgrace: transfer\.for_update: [0-9]+ transactions, 0 violations, [0-9]+\.[0-9] s\n)");

TEST(ProgressProgram, LongStressRunPrintsPlainProgressLinesOnStderrOnly) {
  const RunResult r =
      pgrace::test::run_pgrace({"run", "transfer.for_update", "--duration", "4"}, pgrace::test::without_dsn());
  ASSERT_EQ(r.exit_code, 0) << output_of(r);
  EXPECT_TRUE(std::regex_search(r.err, kStressLine)) << output_of(r);
  EXPECT_THAT(r.out, Not(HasSubstr("pgrace: transfer.for_update:")));
  EXPECT_THAT(r.out + r.err, Not(HasSubstr("\r")));
  EXPECT_THAT(r.out + r.err, Not(HasSubstr("\x1b")));
}

TEST(ProgressProgram, QuietLongStressRunPrintsNoProgress) {
  const RunResult r =
      pgrace::test::run_pgrace({"run", "-q", "transfer.for_update", "--duration", "4"}, pgrace::test::without_dsn());
  ASSERT_EQ(r.exit_code, 0) << output_of(r);
  EXPECT_THAT(r.err, Not(HasSubstr("transfer.for_update")));
  EXPECT_THAT(r.out, Not(HasSubstr("transfer.for_update")));
}

TEST(ProgressProgram, LongExplorationPrintsScheduleProgress) {
  // Listed 2000 times, the lost update's one schedule runs for seconds
  // (a few ms each) and violates every time.
  std::vector<std::string> args = {"explore", "transfer.lost_update_schedule", "--max-schedules", "2000"};
  for (int i = 0; i < 2000; ++i) args.insert(args.end(), {"--schedule", "b1 b2 r1 r2 w1 c1 w2 c2"});
  const RunResult r = pgrace::test::run_pgrace(args, pgrace::test::without_dsn());
  ASSERT_EQ(r.exit_code, 0) << output_of(r);
  ASSERT_GT(r.seconds, 3.0) << "the exploration was too short to show progress";
  static const std::regex line(
      R"((^|\n)pgrace: transfer\.lost_update_schedule: ([0-9]+)/2000 schedules, ([0-9]+) violations?, [0-9]+\.[0-9] s\n)");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.err, m, line)) << r.err;
  EXPECT_EQ(m.str(2), m.str(3)) << "every schedule violates";
  EXPECT_THAT(r.out, Not(HasSubstr("pgrace: transfer.lost_update_schedule:")));
}

// On a terminal 30 columns wide (a pty made by script(1), stdout and stderr
// both on it): the line is drawn in place, trimmed to 29 characters, and
// erased before the scenario's summary; the output ends clean.
TEST(ProgressProgram, OnATerminalOneLineIsRedrawnInPlaceAndErasedBeforeTheSummary) {
  if (access("/usr/bin/script", X_OK) != 0) GTEST_SKIP() << "script(1) (util-linux) is not installed";
  const std::string command =
      "stty cols 30; exec " + pgrace::test::pgrace_binary() + " run transfer.for_update --duration 4";
  RunResult r = pgrace::test::run({"/usr/bin/script", "-qc", command, "/dev/null"}, pgrace::test::without_dsn());
  ASSERT_EQ(r.exit_code, 0) << output_of(r);
  std::string text = std::regex_replace(r.out, std::regex("\r\n"), "\n");  // the pty's newlines
  static const std::regex drawn("\rtransfer\\.for_update: [0-9 a-z]*\x1b\\[K");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(text, m, drawn)) << text;
  EXPECT_EQ(m.length(0), 1 + 29 + 3) << "trimmed to the width less one: " << m.str(0);
  const std::string erased = "\r\x1b[K";
  EXPECT_THAT(text, HasSubstr(erased + "ok   transfer.for_update: held"));
  const std::string after_last_escape = text.substr(text.rfind("\x1b[K"));
  EXPECT_EQ(after_last_escape.find('\r', 0), std::string::npos) << "last drawn line left on screen";
  EXPECT_EQ(text.rfind("\x1b[K"), text.rfind(erased) + 1) << "the last escape is an erase";
  EXPECT_THAT(text, HasSubstr("\n1/1 scenarios matched their expectation\n"));
}

}  // namespace
