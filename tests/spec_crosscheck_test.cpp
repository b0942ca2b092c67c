// Cross-check of pgrace's interleave step engine (steps/schedule_run.cpp, what
// scenarios run on) against an independent reference: PostgreSQL 15's
// isolationtester, through the outputs it printed for pgrace's own spec
// files (tests/specs/NAME.out, made by scripts/spec-expected.sh).
//
// What this test checks: for every spec of tests/specs that uses only what
// the interleave engine models, each of the spec's permutations, run as a
// schedule by pgrace::run_scenario, implies the same sequence of step events
// the tester printed: which steps were seen waiting ("<waiting ...>"), the
// order in which waiting steps were reported completed ("<... completed>")
// relative to the other steps, and which steps failed with which error
// message. Result tables are compared loosely: the engine keeps the rows of
// a step's last statement as text ("v1,v2;v1,v2"), the tester prints every
// statement's rows aligned, so the last table the tester printed for a step
// is compared with the step's observation, cell by cell without padding, a
// NULL as an empty cell; a step that failed has no observation, so the rows
// the tester printed before its error are not compared.
//
// How a spec becomes a scenario (SpecScenario): its setup blocks are the
// schema, so the template database holds the spec's tables; before every
// schedule pgrace truncates every table of schema public and calls seed(),
// which runs the spec's teardown and then its setup blocks again, in the same
// transaction: each permutation starts from the state the tester starts it
// from (tables recreated, sequences and all). Each spec session becomes a
// session whose setup SQL is the spec session's setup, each step an SQL step;
// the spec's permutations (listed, or all interleavings) are the scenario's
// schedules. No invariant is checked, so every feasible schedule is kept in
// result.exploration.held (at most 20: the specs used have fewer
// permutations). Schedules run in order of their context switches, so
// results are matched to permutations by their steps, not their position.
//
// How a ScheduleResult becomes tester lines (engine_events): steps are taken
// in schedule order; a step seen waiting gives "step X: <waiting ...>" when
// it is started, every completion is reported in completed_as order, a step
// that did not wait as "step X" (its start and completion are one line for
// the tester), one that waited as "step X: <... completed>", and a failure is
// followed by its "ERROR:  message". A completion is reported before a later
// step's line when its number is lower; before a waiting step's line when it
// belongs to that step's own session (the tester waits for a session's step
// before sending its next one).
//
// Modelling differences, not compared (and why specs using them are left
// out, see kLeftOut): completion markers ((*), (other), (other notices N));
// notices and NOTIFY, which the engine does not record; failing setup or
// teardown blocks (the engine reports a failing session setup as a usage
// error, a spec's setup is the scenario's schema); session teardown blocks
// (the engine ends every schedule with ROLLBACK on each session instead).
// The engine sets deadlock_timeout = 10ms on its sessions; a spec session's
// setup that sets it (deadlock.spec) overrides that, so the victim is the
// one the tester sees.
//
// Determinism: lock waits, releases and the deadlock are timing-dependent in
// both programs; run this file with --gtest_repeat=5 on a loaded machine.

#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <vector>

#include "pgrace/runner.hpp"
#include "pgrace/scenario.hpp"
#include "pgrace/server.hpp"
#include "pgrace/steps.hpp"
#include "spec/spec.hpp"
#include "test_support.hpp"

namespace {

namespace fs = pgrace::test::fs;
using pgrace::test::read_text;
using pgrace::test::specs_dir;
using Schedule = std::vector<std::string>;
using Events = std::vector<std::string>;

// Specs of tests/specs not cross-checked, and why.
const std::map<std::string, std::string> kLeftOut = {
    {"alignment", "values with newlines and NULL-only rows: an observation is text without row structure"},
    {"application_name", "application_name: the engine names its sessions pgrace-NAME"},
    {"names", "quoted step names with spaces, which this test's transcript reader splits"},
    {"every_line", "markers, notices, session teardown"},
    {"markers", "markers, notices"},
    {"never_released", "markers, notices"},
    {"notices", "notices"},
    {"notify", "NOTIFY"},
    {"session_setup_fails", "a session's setup fails"},
    {"setup_fails", "a setup block fails"},
    {"teardown_fails", "teardown failures"},
    {"terminated_backend", "a session's backend terminated by another session, session teardown failures"},
};

// Names (without .spec) of the specs with an expected output not in kLeftOut.
std::vector<std::string> crosschecked_specs() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(specs_dir())) {
    const fs::path path = entry.path();
    if (path.extension() != ".spec" || !fs::exists(fs::path(path).replace_extension(".out"))) continue;
    if (!kLeftOut.count(path.stem().string())) names.push_back(path.stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// A parsed spec as a test-only interleave scenario. Not registered.
class SpecScenario : public pgrace::Scenario {
 public:
  explicit SpecScenario(pgrace::spec::Spec spec) : spec_(std::move(spec)) {}
  std::string schema() const override {
    std::string sql;
    for (const auto& block : spec_.setup_sql) sql += block + ";\n";
    return sql;
  }
  void seed(pqxx::work& tx) override {
    if (spec_.teardown_sql) tx.exec(*spec_.teardown_sql);
    for (const auto& block : spec_.setup_sql) tx.exec(block);
  }
  std::vector<pgrace::Session> sessions() const override {
    std::vector<pgrace::Session> out;
    for (const auto& session : spec_.sessions) {
      pgrace::Session s{session.name, session.setup_sql.value_or(""), {}};
      for (const auto& step : session.steps) s.steps.push_back(pgrace::sql_step(step.name, step.sql));
      out.push_back(std::move(s));
    }
    return out;
  }
  std::vector<Schedule> schedules() const override {
    std::vector<Schedule> out;
    for (const auto& permutation : pgrace::spec::permutations_to_run(spec_, 1000)) {
      Schedule names;
      for (const auto& step : permutation.steps) names.push_back(step.name);
      out.push_back(std::move(names));
    }
    return out;
  }
  std::vector<pgrace::Invariant> invariants() const override { return {}; }

 private:
  pgrace::spec::Spec spec_;
};

// "ERROR:  message" from an engine step's message ("ERROR:  message" and
// maybe more lines, or the message alone).
std::string error_line(const std::string& message) {
  std::string line = message.substr(0, message.find('\n'));
  return line.rfind("ERROR:", 0) == 0 ? line : "ERROR:  " + line;
}

// The tester's step events that `r` implies (see the header comment).
Events engine_events(const pgrace::ScheduleResult& r) {
  std::vector<const pgrace::StepRecord*> completions;
  for (const auto& step : r.steps)
    if (step.completed_as >= 0) completions.push_back(&step);
  std::sort(completions.begin(), completions.end(),
            [](const auto* a, const auto* b) { return a->completed_as < b->completed_as; });
  Events events;
  std::size_t next = 0;
  auto report_below = [&](int number) {
    for (; next < completions.size() && completions[next]->completed_as < number; ++next) {
      const pgrace::StepRecord& done = *completions[next];
      events.push_back("step " + done.step + (done.waited ? ": <... completed>" : ""));
      if (done.outcome != pgrace::StepOutcome::ok) events.push_back(error_line(done.message));
    }
  };
  for (std::size_t i = 0; i < r.steps.size(); ++i) {
    const pgrace::StepRecord& step = r.steps[i];
    if (!step.waited) {
      if (step.completed_as < 0) events.push_back("step " + step.step + ": " + pgrace::to_string(step.outcome));
      report_below(step.completed_as + 1);
      continue;
    }
    int own_session = -1;  // the last completion of this session's earlier steps
    for (std::size_t j = 0; j < i; ++j)
      if (r.steps[j].session == step.session) own_session = std::max(own_session, r.steps[j].completed_as);
    report_below(own_session + 1);
    events.push_back("step " + step.step + ": <waiting ...>");
  }
  report_below(INT_MAX);
  for (const auto& step : r.steps)
    if (step.waited && step.completed_as < 0) events.push_back("step " + step.step + ": never completed");
  return events;
}

// One permutation of an expected output: its steps, its step events, and
// the last result table each step printed, as loose_rows() writes it.
struct ExpectedPermutation {
  Schedule schedule;
  Events events;
  std::map<std::string, std::string> rows;
};

std::string trimmed(const std::string& text) {
  const std::size_t first = text.find_first_not_of(' ');
  return first == std::string::npos ? "" : text.substr(first, text.find_last_not_of(' ') - first + 1);
}

// Rows compared loosely: cells without surrounding spaces, a NULL as an
// empty cell, cells joined by ',' and rows by ';'. `cell` separates the
// cells of a row in `rows` (one row per element).
std::string loose_rows(const std::vector<std::string>& rows, char cell) {
  std::string out;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    out += r ? ";" : "";
    std::size_t from = 0;
    for (bool first = true;; first = false) {
      const std::size_t end = std::min(rows[r].find(cell, from), rows[r].size());
      const std::string value = trimmed(rows[r].substr(from, end - from));
      out += (first ? "" : ",") + (cell == ',' && value == "NULL" ? std::string() : value);
      if (end == rows[r].size()) break;
      from = end + 1;
    }
  }
  return out;
}

// An engine step's observation ("v1,v2;v1,v2", NULL for NULL) as loose_rows() writes it.
std::string loose_observation(const std::string& observation) {
  std::vector<std::string> rows;
  for (std::size_t from = 0; !observation.empty();) {
    const std::size_t end = std::min(observation.find(';', from), observation.size());
    rows.push_back(observation.substr(from, end - from));
    if (end == observation.size()) break;
    from = end + 1;
  }
  return loose_rows(rows, ',');
}

// The rows of the result table starting at `at` in `out` (a header line, a
// line of '-' and '+', the rows, "(N rows)"), and where it ends; nullopt
// when no table starts there.
std::optional<std::pair<std::vector<std::string>, std::size_t>> table_at(const std::string& out, std::size_t at) {
  auto line_end = [&](std::size_t from) { return std::min(out.find('\n', from), out.size()); };
  const std::size_t rule = line_end(at) + 1;
  if (rule >= out.size() || out[rule] != '-' || out.find_first_not_of("-+", rule) != line_end(rule))
    return std::nullopt;
  std::vector<std::string> rows;
  for (std::size_t line = line_end(rule) + 1; line < out.size(); line = line_end(line) + 1) {
    const std::string text = out.substr(line, line_end(line) - line);
    if (text.rfind("(", 0) == 0 && text.find("row") != std::string::npos)
      return std::make_pair(rows, line_end(line) + 1);
    rows.push_back(text);
  }
  return std::nullopt;
}

// The permutations of a tester output `out` for `spec`, each with the lines
// about its steps as engine_events() writes them: "step X" (ran without
// waiting), "step X: <waiting ...>", "step X: <... completed>" and
// "ERROR:  message", and the last result table of each step. Everything else
// is skipped.
std::vector<ExpectedPermutation> expected_permutations(const std::string& out, const pgrace::spec::Spec& spec) {
  const std::string header = "starting permutation: ";
  std::vector<ExpectedPermutation> permutations;
  std::size_t at = 0;
  std::string last_step;  // the step whose results would follow
  auto starts = [&](const std::string& text) { return out.compare(at, text.size(), text) == 0; };
  while (at < out.size()) {
    std::size_t consumed = 0;
    if (starts(header)) {
      ExpectedPermutation p;
      const std::size_t end = out.find('\n', at);
      std::string names = out.substr(at + header.size(), end - at - header.size());
      for (std::size_t from = 0; from < names.size();) {
        std::size_t space = names.find(' ', from);
        if (space == std::string::npos) space = names.size();
        p.schedule.push_back(names.substr(from, space - from));
        from = space + 1;
      }
      permutations.push_back(std::move(p));
      last_step.clear();
    } else if (!last_step.empty() && table_at(out, at)) {
      const auto table = table_at(out, at);
      permutations.back().rows[last_step] = loose_rows(table->first, '|');
      consumed = table->second - at;
    } else if (!permutations.empty() && starts("ERROR:  ")) {
      permutations.back().events.push_back(out.substr(at, out.find('\n', at) - at));
    } else if (!permutations.empty()) {
      for (const auto& session : spec.sessions)
        for (const auto& step : session.steps) {
          const std::string prefix = "step " + step.name + ": ";
          if (!starts(prefix)) continue;
          for (const auto& [tail, event] :
               {std::pair<std::string, std::string>{"<... completed>\n", ": <... completed>"},
                {step.sql + " <waiting ...>\n", ": <waiting ...>"},
                {step.sql + "\n", ""}}) {
            if (out.compare(at + prefix.size(), tail.size(), tail) != 0) continue;
            permutations.back().events.push_back("step " + step.name + event);
            last_step = event == ": <waiting ...>" ? "" : step.name;
            consumed = prefix.size() + tail.size();
            break;
          }
          if (consumed) break;
        }
    }
    if (consumed) {
      at += consumed;
    } else {
      const std::size_t end = out.find('\n', at);
      at = end == std::string::npos ? out.size() : end + 1;
    }
  }
  return permutations;
}

class SpecCrosscheck : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    if (!server_) server_ = pgrace::Server::open(std::nullopt);
  }
  static std::unique_ptr<pgrace::Server> server_;
};
std::unique_ptr<pgrace::Server> SpecCrosscheck::server_;

TEST_P(SpecCrosscheck, EngineReportsTheStepEventsTheIsolationTesterPrinted) {
  const std::string name = GetParam();
  const pgrace::spec::Spec spec = pgrace::spec::load_spec((specs_dir() / (name + ".spec")).string());
  for (const auto& permutation : spec.permutations)
    for (const auto& step : permutation.steps)
      ASSERT_TRUE(step.blockers.empty()) << name << ": a marker on " << step.name;
  const auto expected = expected_permutations(read_text(specs_dir() / (name + ".out")), spec);
  ASSERT_EQ(expected.size(), pgrace::spec::count_permutations(spec)) << name;

  SpecScenario scenario(spec);
  pgrace::ScenarioInfo info;
  info.name = "test.crosscheck." + name;
  info.description = "the spec " + name + " as an interleave scenario";
  info.expects_code_errors = true;  // the specs print errors such as a syntax error on purpose
  pgrace::RunSettings settings;
  settings.shrink = false;
  const pgrace::ScenarioResult r = pgrace::run_scenario(*server_, info, scenario, settings);
  ASSERT_EQ(r.error, "") << name;
  ASSERT_EQ(r.exploration.explored, static_cast<long>(expected.size())) << name;
  EXPECT_EQ(r.exploration.infeasible, 0) << name;
  ASSERT_EQ(r.exploration.held_schedules.size(), expected.size()) << name;

  int tables = 0;  // result tables compared
  std::multimap<Schedule, const pgrace::ScheduleResult*> ran;
  for (const auto& s : r.exploration.held_schedules) ran.emplace(s.schedule, &s);
  for (const auto& permutation : expected) {
    auto it = ran.find(permutation.schedule);
    ASSERT_NE(it, ran.end()) << name << ": no schedule ran " << ::testing::PrintToString(permutation.schedule);
    const std::string where = name + ", permutation " + ::testing::PrintToString(permutation.schedule);
    EXPECT_EQ(engine_events(*it->second), permutation.events) << where;
    for (const auto& [step, rows] : permutation.rows) {
      auto record = std::find_if(it->second->steps.begin(), it->second->steps.end(),
                                 [&](const pgrace::StepRecord& r) { return r.step == step; });
      ASSERT_NE(record, it->second->steps.end()) << where << ": the tester printed rows of " << step;
      if (record->outcome != pgrace::StepOutcome::ok) continue;  // a failed step has no observation
      EXPECT_EQ(loose_observation(record->observation), rows) << where << ", rows of step " << step;
      ++tables;
    }
    ran.erase(it);
  }
  std::cout << "[ info     ] " << name << ": " << expected.size() << " permutation(s), " << tables
            << " result table(s) compared\n";
}

INSTANTIATE_TEST_SUITE_P(Specs, SpecCrosscheck, ::testing::ValuesIn(crosschecked_specs()),
                         [](const auto& info) { return info.param; });

// Every spec with an expected output is either cross-checked or left out for
// a stated reason, and the cross-checked ones cover lock waits, a deadlock,
// errors and all interleavings.
TEST(SpecCrosscheckCoverage, EverySpecIsCheckedOrLeftOutForAReason) {
  std::vector<std::string> all;
  for (const auto& entry : fs::directory_iterator(specs_dir()))
    if (entry.path().extension() == ".spec") all.push_back(entry.path().stem().string());
  std::sort(all.begin(), all.end());
  std::vector<std::string> classified = crosschecked_specs();
  for (const auto& [left_out, why] : kLeftOut) classified.push_back(left_out);
  std::sort(classified.begin(), classified.end());
  EXPECT_EQ(all, classified);
  const std::vector<std::string> checked = crosschecked_specs();
  for (const char* wanted : {"all_interleavings", "deadlock", "lock_wait", "results"})
    EXPECT_TRUE(std::count(checked.begin(), checked.end(), wanted)) << wanted;
}

}  // namespace
