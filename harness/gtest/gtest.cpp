// pgrace::testing: scenarios as GoogleTest tests (see pgrace/gtest.hpp).

#include "pgrace/gtest.hpp"

#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <memory>
#include <mutex>
#include <sstream>

#include "pgrace/dsn.hpp"
#include "pgrace/error.hpp"
#include "pgrace/report.hpp"
#include "pgrace/seed.hpp"
#include "server/ephemeral_cluster.hpp"

namespace pgrace::testing {
namespace {

// The test program's one server, opened at the first run and closed by the
// global environment's tear-down (at the end of RUN_ALL_TESTS).
class ServerEnvironment : public ::testing::Environment {
 public:
  // The server, or null with `skip_reason` set when no PostgreSQL is
  // installed. Throws pgrace::Error for any other failure to provide one.
  const Server* get(std::string& skip_reason) {
    std::lock_guard lock(mutex_);
    if (!server_ && skip_reason_.empty()) open();
    skip_reason = skip_reason_;
    return server_.get();
  }
  void TearDown() override {
    std::lock_guard lock(mutex_);
    server_.reset();
  }

 private:
  void open() {
    const auto dsn = resolve_dsn(std::nullopt);
    if (!dsn) {
      try {
        detail::find_server_binaries();
      } catch (const Error& e) {
        skip_reason_ = std::string("pgrace: ") + e.what();
        return;
      }
    }
    server_ = Server::open(dsn);
  }

  std::mutex mutex_;
  std::unique_ptr<Server> server_;
  std::string skip_reason_;
};

ServerEnvironment& environment() {
  // Owned by GoogleTest once added; added before main() runs.
  static ServerEnvironment* const instance = [] {
    auto* env = new ServerEnvironment;
    ::testing::AddGlobalTestEnvironment(env);
    return env;
  }();
  return *instance;
}
[[maybe_unused]] const bool environment_registered = (environment(), true);

bool server_required() {
  const char* value = std::getenv("PGRACE_REQUIRE_SERVER");
  return value && *value && std::string(value) != "0";
}

std::uint64_t seed_for(const RunSettings& settings) {
  if (const char* text = std::getenv("PGRACE_SEED"); text && *text) return parse_seed(text, "PGRACE_SEED");
  return settings.seed != 0 ? settings.seed : random_seed();
}

// "PGRACE_SEED=<seed> <program> --gtest_filter=<Suite>.<Test>"
std::string reproducer(std::uint64_t seed) {
  std::error_code ec;
  std::string program = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  if (ec) program = "<test program>";
  std::string filter;
  if (const auto* test = ::testing::UnitTest::GetInstance()->current_test_info())
    filter = std::string(" --gtest_filter=") + test->test_suite_name() + "." + test->name();
  return "PGRACE_SEED=" + std::to_string(seed) + " " + program + filter;
}

void record_properties(const ScenarioResult& result) {
  ::testing::Test::RecordProperty("pgrace_scenario", result.info.name);
  ::testing::Test::RecordProperty("pgrace_seed", std::to_string(result.seed));
  ::testing::Test::RecordProperty("pgrace_verdict", to_string(result.verdict));
}

ScenarioResult skipped_result(const ScenarioDefinition& definition, const std::string& reason) {
  ScenarioResult result;
  result.info = definition.info;
  result.verdict = Verdict::error;
  result.error = reason;
  if (server_required()) {
    ADD_FAILURE() << reason << " (PGRACE_REQUIRE_SERVER is set)";
  } else {
    [&] { GTEST_SKIP() << reason << " (set PGRACE_REQUIRE_SERVER=1 to fail instead)"; }();
  }
  return result;
}

ScenarioResult failed_result(const ScenarioDefinition& definition, const std::string& reason) {
  ScenarioResult result;
  result.info = definition.info;
  result.verdict = Verdict::error;
  result.error = reason;
  ADD_FAILURE() << "pgrace: " << definition.info.name << ": " << reason;
  return result;
}

ScenarioResult run_definition(const ScenarioDefinition& definition, RunSettings settings,
                              const std::vector<std::string>& option_items) {
  settings.seed = seed_for(settings);
  Options options(option_items);
  apply_overrides(definition.info.defaults, settings, definition.info.name);  // range errors before a server starts
  auto scenario = make_scenario(definition, options);
  if (const auto unread = options.unread(); !unread.empty())
    throw usage_error("option '" + unread.front() + "' is not read by scenario " + definition.info.name);
  check_runnable(definition.info, *scenario, settings);
  if (const auto unused = settings_without_effect(definition.info, *scenario, settings); !unused.empty())
    throw usage_error("RunSettings::" + unused.front() + " does nothing for " + definition.info.name +
                      ", which runs no concurrent workers (a check or interleave scenario): leave it unset");
  std::string skip_reason;
  const Server* server = environment().get(skip_reason);
  if (!server) return skipped_result(definition, skip_reason);
  const ScenarioMaker make_more = [&definition, &option_items] {
    Options again(option_items);
    return definition.make(again);
  };
  ScenarioResult result = run_scenario(*server, definition.info, *scenario, settings, {}, make_more);
  record_properties(result);
  return result;
}

// Whether the scenario ran at all (a run that never started has no summary
// worth printing, and no seed that would repeat anything).
bool ran(const ScenarioResult& result) {
  return result.attempts > 0 || result.stress.repetitions > 0 || result.exploration.explored > 0;
}

// `name` as a file name: characters other than letters, digits, '.', '-'
// and '_' (a parameterised test's '/') become '_'.
std::string file_name_of(std::string name) {
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') c = '_';
  return name;
}

// Writes the failure's HTML timeline page to $PGRACE_HTML_DIR (else
// GoogleTest's temporary directory) as <Suite>.<Test>.<scenario>.html;
// returns the line naming it, or saying why it was not written.
std::string timeline_page_line(const ScenarioResult& result) {
  const char* dir = std::getenv("PGRACE_HTML_DIR");
  std::string name = result.info.name;
  if (const auto* test = ::testing::UnitTest::GetInstance()->current_test_info())
    name = std::string(test->test_suite_name()) + "." + test->name() + "." + name;
  const auto path = std::filesystem::path(dir && *dir ? dir : ::testing::TempDir()) / (file_name_of(name) + ".html");
  try {
    write_file_atomically(path.string(), to_html({{result, reproducer(result.seed)}}, name));
    return "     timeline: " + path.string() + "\n";
  } catch (const Error& e) {
    return std::string("     timeline: not written: ") + e.what() + "\n";
  }
}

// The failure text: the summary pgrace prints, the witnesses, the
// reproducer's steps with their SQL (interleave mode), the HTML timeline
// page written for it, then how to repeat the run; only `what` for a run
// that never started.
std::string explain(const ScenarioResult& result, const std::string& what) {
  if (!ran(result)) return what;
  std::ostringstream out;
  out << what << "\n" << summary_text(result);
  for (const auto& inv : result.invariants)
    if (!inv.held)
      for (const auto& witness : inv.witnesses) out << "     witness of \"" << inv.name << "\": " << witness << "\n";
  if (const auto& steps = result.exploration.reproducer) {
    out << "     the reproducer, step by step";
    if (steps->draw) out << " (input draw " << *steps->draw << ": ExploreSettings::draw replays it)";
    out << ":\n";
    for (const auto& step : steps->steps)
      out << "       " << std::left << std::setw(10) << step.step << (step.waited ? "(waited) " : "") << step.sql
          << "\n";
  }
  out << timeline_page_line(result) << "     reproduce: " << reproducer(result.seed);
  return terminal_text(out.str());
}

std::set<std::string> violated_set(const ScenarioResult& result) {
  std::set<std::string> names;
  for (const auto& inv : result.invariants)
    if (!inv.held) names.insert(inv.name);
  return names;
}

std::string joined(const std::set<std::string>& names) {
  if (names.empty()) return "none";
  std::string text;
  for (const auto& name : names) text += (text.empty() ? "\"" : ", \"") + name + "\"";
  return text;
}

bool skipped() { return ::testing::Test::IsSkipped(); }

RunSettings run_settings_of(const ExploreSettings& explore) {
  RunSettings settings;
  settings.statement_workers = explore.workers;
  settings.max_switches = explore.max_switches;
  settings.max_schedules = explore.max_schedules;
  settings.seed = explore.seed;
  settings.draws = explore.draws;
  settings.draw = explore.draw;
  settings.faults = explore.faults;
  settings.shard = explore.shard;
  return settings;
}

}  // namespace

ScenarioResult run(const ScenarioDefinition& definition, const RunSettings& settings,
                   const std::vector<std::string>& options) {
  try {
    return run_definition(definition, settings, options);
  } catch (const Error& e) {
    return failed_result(definition, e.what());
  } catch (const std::exception& e) {
    return failed_result(definition, std::string("scenario could not be created: ") + e.what());
  }
}

ScenarioResult run(const std::string& registered_name, const RunSettings& settings,
                   const std::vector<std::string>& options) {
  for (const auto& definition : registered_scenarios())
    if (definition.info.name == registered_name) return run(definition, settings, options);
  ScenarioDefinition unknown;
  unknown.info.name = registered_name;
  return failed_result(unknown, "no scenario named " + registered_name +
                                    " is registered in this program (link its file into the test program)");
}

ScenarioResult explore(const ScenarioDefinition& definition, const ExploreSettings& settings,
                       const std::vector<std::string>& options) {
  return run(definition, run_settings_of(settings), options);
}

::testing::AssertionResult Holds(const ScenarioResult& result) {
  if (skipped()) return ::testing::AssertionSuccess();
  // A partial exploration without a violation is verdict error, not held.
  if (result.verdict == Verdict::held) return ::testing::AssertionSuccess();
  if (result.verdict == Verdict::error)
    return ::testing::AssertionFailure() << explain(result,
                                                    result.info.name + " did not run to a verdict: " + result.error);
  return ::testing::AssertionFailure() << explain(
             result, result.info.name + " violated " + joined(violated_set(result)) + ", expected to hold");
}

::testing::AssertionResult Violates(const ScenarioResult& result, const std::set<std::string>& invariants) {
  if (skipped()) return ::testing::AssertionSuccess();
  if (result.verdict == Verdict::error)
    return ::testing::AssertionFailure() << explain(result,
                                                    result.info.name + " did not run to a verdict: " + result.error);
  const auto violated = violated_set(result);
  bool every_run = true;  // stress and check mode: each expected invariant failed in every repetition
  for (const auto& inv : result.invariants)
    if (invariants.count(inv.name) && result.mode != Mode::interleave)
      every_run &= inv.violated_runs == result.stress.repetitions;
  if (result.exploration.statement_workers > 0) {
    if (meets_explored_expectation(violated, invariants)) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << explain(result, result.info.name + " violated " + joined(violated) +
                                                                ", expected some of " + joined(invariants) +
                                                                " and no other");
  }
  if (violated == invariants && every_run) return ::testing::AssertionSuccess();
  std::ostringstream what;
  what << result.info.name << " violated " << joined(violated) << ", expected exactly " << joined(invariants);
  if (violated == invariants) what << " in every one of its " << result.stress.repetitions << " runs";
  return ::testing::AssertionFailure() << explain(result, what.str());
}

::testing::AssertionResult MatchesExpectation(const ScenarioResult& result) {
  if (skipped()) return ::testing::AssertionSuccess();
  if (result.matched) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << explain(
             result, result.info.name + " did not match its expectation (" + to_string(result.verdict) + ")");
}

}  // namespace pgrace::testing
