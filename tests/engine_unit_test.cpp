// Unit tests of the engine's pure parts, without a server: how failed
// attempts are classified (outcome.hpp), scenario options (options.hpp),
// isolation parsing and run-setting overrides (knobs.hpp, runner.hpp), and
// the reports (report.hpp): the JSON document, the JUnit XML, the exit code
// and the atomic writing of report files.

#include <gmock/gmock.h>
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <fstream>
#include <pqxx/except>
#include <regex>
#include <sstream>
#include <stdexcept>

#include "core/pqxx_compat.hpp"
#include "pgrace/error.hpp"
#include "pgrace/knobs.hpp"
#include "pgrace/options.hpp"
#include "pgrace/outcome.hpp"
#include "pgrace/report.hpp"
#include "pgrace/runner.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using pgrace::ExitCode;
using pgrace::OutcomeClass;
using pgrace::detail::rollback_error_without_sqlstate;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

template <typename E>
pgrace::Outcome classify_thrown(const E& error) {
  try {
    throw error;
  } catch (...) {
    return pgrace::classify(std::current_exception());
  }
}

// Runs `f` and returns the code of the pgrace::Error it throws; fails the
// test (and returns nullopt) if it throws nothing or something else.
template <typename F>
std::optional<ExitCode> error_code_of(F&& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const pgrace::Error& e) {
    if (message) *message = e.what();
    return e.code();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw something other than pgrace::Error: " << e.what();
    return std::nullopt;
  }
  ADD_FAILURE() << "did not throw";
  return std::nullopt;
}

// ---------------------------------------------------------------- classify

// libpqxx 6.4 throws serialization_failure and deadlock_detected without a
// SQLSTATE (they are not sql_errors there); their type stands for it.
TEST(Classify, SerializationFailureWithoutSqlstateIs40001) {
  const auto o = classify_thrown(
      rollback_error_without_sqlstate<pqxx::serialization_failure>("could not serialize access\nDETAIL: x"));
  EXPECT_EQ(o.kind, OutcomeClass::serialization_failure);
  EXPECT_EQ(o.sqlstate, "40001");
  EXPECT_EQ(o.message, "could not serialize access");  // first line only
}

TEST(Classify, DeadlockDetectedWithoutSqlstateIs40P01) {
  const auto o = classify_thrown(rollback_error_without_sqlstate<pqxx::deadlock_detected>("deadlock detected"));
  EXPECT_EQ(o.kind, OutcomeClass::deadlock);
  EXPECT_EQ(o.sqlstate, "40P01");
  EXPECT_EQ(o.message, "deadlock detected");
}

TEST(Classify, SqlErrorsAreClassifiedBySqlstate) {
  struct Case {
    const char* state;
    OutcomeClass kind;
  };
  const Case cases[] = {
      {"55P03", OutcomeClass::lock_not_available},
      {"57014", OutcomeClass::cancelled},
      {"23514", OutcomeClass::constraint_violation},
      {"23505", OutcomeClass::constraint_violation},
      {"08006", OutcomeClass::connection_lost},
      {"57P01", OutcomeClass::connection_lost},
      {"42P01", OutcomeClass::other_sql_error},
      {"40001", OutcomeClass::serialization_failure},
      {"40P01", OutcomeClass::deadlock},
      {"08P01", OutcomeClass::other_sql_error},
  };
  for (const auto& c : cases) {
    const auto o = classify_thrown(pqxx::sql_error("msg", "query", c.state));
    EXPECT_EQ(o.kind, c.kind) << c.state << " -> " << pgrace::to_string(o.kind);
    EXPECT_EQ(o.sqlstate, c.state);
    EXPECT_EQ(o.message, "msg");
  }
}

TEST(Classify, AProtocolViolationReportedAsAnErrorIsASqlError) {
  const auto o = classify_thrown(
      pqxx::broken_connection("ERROR:  bind message supplies 2 parameters, but prepared statement \"\" requires 1"));
  EXPECT_EQ(o.kind, OutcomeClass::other_sql_error);
  EXPECT_EQ(o.sqlstate, "08P01");
}

TEST(Classify, BrokenConnectionIsConnectionLost) {
  const auto o = classify_thrown(pqxx::broken_connection("server closed the connection unexpectedly"));
  EXPECT_EQ(o.kind, OutcomeClass::connection_lost);
  EXPECT_EQ(o.sqlstate.substr(0, 2), "08");
  EXPECT_EQ(o.message, "server closed the connection unexpectedly");
}

TEST(Classify, InDoubtAndCompletionUnknownAreConnectionLost) {
  EXPECT_EQ(classify_thrown(pqxx::in_doubt_error("in doubt")).kind, OutcomeClass::connection_lost);
  EXPECT_EQ(classify_thrown(rollback_error_without_sqlstate<pqxx::statement_completion_unknown>("unknown")).kind,
            OutcomeClass::connection_lost);
}

TEST(Classify, ScenarioExceptionsAreScenarioErrors) {
  const auto o = classify_thrown(std::runtime_error("bug in the scenario"));
  EXPECT_EQ(o.kind, OutcomeClass::scenario_error);
  EXPECT_EQ(o.sqlstate, "");
  EXPECT_EQ(o.message, "bug in the scenario");

  const auto odd = classify_thrown(42);
  EXPECT_EQ(odd.kind, OutcomeClass::scenario_error);
}

TEST(Classify, OnlySerializationFailuresAndDeadlocksAreRetryable) {
  EXPECT_TRUE(pgrace::is_retryable(OutcomeClass::serialization_failure));
  EXPECT_TRUE(pgrace::is_retryable(OutcomeClass::deadlock));
  for (OutcomeClass k : {OutcomeClass::committed, OutcomeClass::rejected, OutcomeClass::lock_not_available,
                         OutcomeClass::cancelled, OutcomeClass::constraint_violation, OutcomeClass::connection_lost,
                         OutcomeClass::other_sql_error, OutcomeClass::scenario_error})
    EXPECT_FALSE(pgrace::is_retryable(k)) << pgrace::to_string(k);
}

TEST(Classify, OutcomeNamesAreTheReportNames) {
  EXPECT_STREQ(pgrace::to_string(OutcomeClass::committed), "committed");
  EXPECT_STREQ(pgrace::to_string(OutcomeClass::serialization_failure), "serialization_failure");
  EXPECT_STREQ(pgrace::to_string(OutcomeClass::deadlock), "deadlock");
  EXPECT_STREQ(pgrace::to_string(OutcomeClass::scenario_error), "scenario_error");
}

// ----------------------------------------------------------------- options

TEST(Options, DefaultsWhenUnsetAndValuesWhenSet) {
  pgrace::Options options({"n=42", "x=2.5", "s=hello=world", "neg=-7"});
  EXPECT_EQ(options.get_int("n", 5), 42);
  EXPECT_EQ(options.get_int("neg", 0), -7);
  EXPECT_EQ(options.get_int("missing_int", 5), 5);
  EXPECT_DOUBLE_EQ(options.get_double("x", 1.0), 2.5);
  EXPECT_DOUBLE_EQ(options.get_double("missing_double", 1.5), 1.5);
  EXPECT_EQ(options.get_string("s", "d"), "hello=world");  // only the first '=' separates
  EXPECT_EQ(options.get_string("missing_string", "d"), "d");
  EXPECT_THAT(options.unread(), IsEmpty());
  EXPECT_EQ(options.read_keys().count("missing_int"), 1u);
}

TEST(Options, NonNumericValueIsUsageError) {
  pgrace::Options options({"n=abc", "x=1.5.2", "e="});
  std::string message;
  EXPECT_EQ(error_code_of([&] { options.get_int("n", 1); }, &message), ExitCode::usage);
  EXPECT_THAT(message, HasSubstr("n=abc"));
  EXPECT_EQ(error_code_of([&] { options.get_double("x", 1); }), ExitCode::usage);
  EXPECT_EQ(error_code_of([&] { options.get_int("e", 1); }), ExitCode::usage);
}

TEST(Options, MalformedItemIsUsageError) {
  std::string message;
  EXPECT_EQ(error_code_of([] { pgrace::Options({"novalue"}); }, &message), ExitCode::usage);
  EXPECT_THAT(message, HasSubstr("novalue"));
  EXPECT_EQ(error_code_of([] { pgrace::Options({"=5"}); }), ExitCode::usage);
}

TEST(Options, UnreadListsKeysNobodyRead) {
  pgrace::Options options({"a=1", "b=2", "c=3"});
  options.get_int("b", 0);
  EXPECT_THAT(options.unread(), ElementsAre("a", "c"));
  options.get_string("a", "");
  options.get_double("c", 0);
  EXPECT_THAT(options.unread(), IsEmpty());
}

// An integer that does not fit in a long does not convert either (strtol
// would clamp it to LONG_MAX and run with that).
TEST(Options, OutOfRangeIntegerIsUsageError) {
  pgrace::Options options({"n=99999999999999999999"});
  EXPECT_EQ(error_code_of([&] { options.get_int("n", 1); }), ExitCode::usage);
}

// ------------------------------------------------------- isolation, knobs

TEST(ParseIsolation, AcceptsDocumentedSpellings) {
  using pgrace::Isolation;
  for (const char* s : {"read_committed", "read-committed", "read committed", "rc", "RC", "Read Committed"})
    EXPECT_EQ(pgrace::parse_isolation(s), Isolation::read_committed) << s;
  for (const char* s : {"repeatable_read", "repeatable-read", "REPEATABLE READ", "rr"})
    EXPECT_EQ(pgrace::parse_isolation(s), Isolation::repeatable_read) << s;
  for (const char* s : {"serializable", "SERIALIZABLE", "Serializable"})
    EXPECT_EQ(pgrace::parse_isolation(s), Isolation::serializable) << s;
  EXPECT_STREQ(pgrace::to_sql(Isolation::repeatable_read), "repeatable read");
}

TEST(ParseIsolation, RejectsOthersWithUsageError) {
  for (const char* s : {"bogus", "", "read_uncommitted", "snapshot", "serialisable"}) {
    std::string message;
    EXPECT_EQ(error_code_of([&] { pgrace::parse_isolation(s); }, &message), ExitCode::usage) << s;
    EXPECT_THAT(message, HasSubstr("serializable")) << "the message lists the accepted levels";
  }
}

TEST(ApplyOverrides, NoOverridesKeepDefaults) {
  pgrace::Knobs defaults;
  defaults.threads = 3;
  defaults.iterations = 7;
  defaults.isolation = pgrace::Isolation::repeatable_read;
  defaults.retry.max_retries = 4;
  const pgrace::Knobs k = pgrace::apply_overrides(defaults, pgrace::RunSettings{});
  EXPECT_EQ(k.threads, 3);
  EXPECT_EQ(k.iterations, 7);
  EXPECT_FALSE(k.duration_s.has_value());
  EXPECT_EQ(k.isolation, pgrace::Isolation::repeatable_read);
  EXPECT_EQ(k.sync, pgrace::Sync::round);
  EXPECT_EQ(k.retry.max_retries, 4);
}

TEST(ApplyOverrides, OverridesReplaceDefaults) {
  pgrace::Knobs defaults;
  defaults.duration_s = 3.0;
  pgrace::RunSettings s;
  s.threads = 256;
  s.iterations = 9;
  s.isolation = pgrace::Isolation::serializable;
  s.sync = pgrace::Sync::start;
  s.retries = 11;
  const pgrace::Knobs k = pgrace::apply_overrides(defaults, s);
  EXPECT_EQ(k.threads, 256);
  EXPECT_EQ(k.iterations, 9);
  EXPECT_FALSE(k.duration_s.has_value()) << "--iterations replaces the scenario's duration";
  EXPECT_EQ(k.isolation, pgrace::Isolation::serializable);
  EXPECT_EQ(k.sync, pgrace::Sync::start);
  EXPECT_EQ(k.retry.max_retries, 11);

  pgrace::RunSettings d;
  d.threads = 1;
  d.duration_s = 0.5;
  const pgrace::Knobs kd = pgrace::apply_overrides(pgrace::Knobs{}, d);
  EXPECT_EQ(kd.threads, 1);
  ASSERT_TRUE(kd.duration_s.has_value());
  EXPECT_DOUBLE_EQ(*kd.duration_s, 0.5);
}

TEST(ApplyOverrides, RejectsOutOfRangeValuesWithUsageError) {
  const pgrace::Knobs defaults;
  auto with = [](auto set) {
    pgrace::RunSettings s;
    set(s);
    return s;
  };
  const std::pair<const char*, pgrace::RunSettings> bad[] = {
      {"threads 0", with([](auto& s) { s.threads = 0; })},
      {"threads 257", with([](auto& s) { s.threads = 257; })},
      {"threads -1", with([](auto& s) { s.threads = -1; })},
      {"iterations 0", with([](auto& s) { s.iterations = 0; })},
      {"repeat 0", with([](auto& s) { s.repeat = 0; })},
      {"retries -1", with([](auto& s) { s.retries = -1; })},
      {"duration_s 0", with([](auto& s) { s.duration_s = 0.0; })},
      {"duration_s -1", with([](auto& s) { s.duration_s = -1.0; })},
  };
  for (const auto& [what, settings] : bad) {
    std::string message;
    EXPECT_EQ(error_code_of([&] { pgrace::apply_overrides(defaults, settings); }, &message), ExitCode::usage) << what;
    EXPECT_THAT(message, HasSubstr(std::string(what).substr(0, std::string(what).find(' ')) + " must be "))
        << what << ": the message names the setting";
    EXPECT_THAT(message, Not(HasSubstr("--"))) << what << ": the engine does not spell the CLI's flags";
  }
}

// A knob out of range in a scenario's info() is the scenario's mistake, not
// a flag the user never gave.
TEST(ApplyOverrides, AKnobOutOfRangeNamesTheScenarioAndTheKnob) {
  pgrace::Knobs defaults;
  defaults.iterations = 0;
  std::string message;
  EXPECT_EQ(error_code_of([&] { pgrace::apply_overrides(defaults, pgrace::RunSettings{}, "demo.zero"); }, &message),
            ExitCode::usage);
  EXPECT_EQ(message, "demo.zero: Knobs::iterations = 0 in its info() is out of range: give from 1 to 1000000000");
  try {
    pgrace::apply_overrides(defaults, pgrace::RunSettings{}, "demo.zero");
  } catch (const pgrace::SettingError& e) {
    EXPECT_TRUE(e.knob()) << "the CLI must not map it to --iterations";
  }
  pgrace::RunSettings given;
  given.iterations = 5;
  EXPECT_NO_THROW(pgrace::apply_overrides(defaults, given, "demo.zero")) << "an override replaces the bad knob";
}

// ----------------------------------------------------------------- reports

const char* const kSpecial = "<&\"'>";

pgrace::ScenarioResult held_result() {
  pgrace::ScenarioResult r;
  r.info.name = "demo.safe";
  r.info.description = "a safe one";
  r.info.expectation = pgrace::expect_hold();
  r.knobs.threads = 4;
  r.knobs.iterations = 10;
  r.seed = 7;
  r.verdict = pgrace::Verdict::held;
  r.matched = true;
  r.stress.repetitions = 2;
  r.stress.violating_runs = 0;
  r.invariants.push_back({"total balance is conserved", pgrace::InvariantKind::equals, true, 0, {}, std::nullopt});
  r.outcomes[OutcomeClass::committed] = 70;
  r.outcomes[OutcomeClass::rejected] = 10;
  r.attempts = 85;
  r.stress.retries = 5;
  r.sqlstates["40001"] = 5;
  r.phases.run_ms = 100;
  return r;
}

pgrace::ScenarioResult mismatched_result() {
  pgrace::ScenarioResult r;
  r.info.name = "demo.unsafe";
  r.info.description = std::string("an unsafe one ") + kSpecial;
  r.info.expectation = pgrace::expect_hold();  // expected to hold, but was violated: a mismatch
  r.knobs.threads = 8;
  r.knobs.iterations = 50;
  r.seed = 7;
  r.verdict = pgrace::Verdict::violated;
  r.matched = false;
  r.stress.repetitions = 4;
  r.stress.violating_runs = 3;
  r.invariants.push_back({std::string("balance ") + kSpecial + " never negative",
                          pgrace::InvariantKind::no_rows,
                          false,
                          3,
                          {std::string("(id=1, note=") + kSpecial + ")", "(id=2, balance=-5)"},
                          1.5});
  r.invariants.push_back({"total balance is conserved", pgrace::InvariantKind::equals, true, 0, {}, std::nullopt});
  r.outcomes[OutcomeClass::committed] = 1500;
  r.outcomes[OutcomeClass::deadlock] = 100;
  r.stress.first_violation_ms = {1.5, 2.5, 4.0};
  r.phases.run_ms = 200;
  return r;
}

pgrace::ScenarioResult error_result() {
  pgrace::ScenarioResult r;
  r.info.name = "demo.broken";
  r.info.expectation = pgrace::expect_violation({"x"});
  r.knobs.threads = 2;
  r.seed = 7;
  r.verdict = pgrace::Verdict::error;
  r.matched = false;
  r.error = std::string("the scenario threw: ") + kSpecial;
  r.stress.repetitions = 1;
  r.outcomes[OutcomeClass::scenario_error] = 1;
  return r;
}

pgrace::RunReport sample_report() {
  pgrace::RunReport report;
  report.tool_version = "0.1.0";
  report.started_at = "2026-01-02T03:04:05Z";
  report.wall_ms = 1234;
  report.server_source = "dsn";
  report.server_version = "15.0";
  report.server_dsn = "postgresql://u:***@h/db";
  report.seed = 7;
  report.repeat = 4;
  report.scenarios = {held_result(), mismatched_result(), error_result()};
  report.exit_code = pgrace::exit_code_of(report.scenarios);
  return report;
}

TEST(Report, ExitCodeOf) {
  EXPECT_EQ(pgrace::exit_code_of({}), 0);
  EXPECT_EQ(pgrace::exit_code_of({held_result()}), 0);
  EXPECT_EQ(pgrace::exit_code_of({held_result(), mismatched_result()}), 1);
  EXPECT_EQ(pgrace::exit_code_of({error_result()}), 1);
}

TEST(Report, JsonHasSchemaVersionSummaryAndScenarioFields) {
  const nlohmann::json j = pgrace::to_json(sample_report());
  EXPECT_EQ(j.at("schema_version"), 1);
  EXPECT_EQ(j.at("seed"), 7);
  EXPECT_EQ(j.at("repeat"), 4);
  EXPECT_EQ(j.at("exit_code"), 1);
  EXPECT_EQ(j.at("server").at("dsn"), "postgresql://u:***@h/db");
  EXPECT_TRUE(j.at("server").at("provision_ms").is_null()) << "a DSN server was not provisioned";
  const auto& summary = j.at("summary");
  EXPECT_EQ(summary.at("scenarios"), 3);
  EXPECT_EQ(summary.at("matched"), 1);
  EXPECT_EQ(summary.at("mismatched"), 2);
  EXPECT_EQ(summary.at("errors"), 1);

  const auto& s = j.at("scenarios");
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].at("name"), "demo.safe");
  EXPECT_EQ(s[0].at("verdict"), "held");
  EXPECT_EQ(s[0].at("matched"), true);
  EXPECT_TRUE(s[0].at("error").is_null());
  EXPECT_EQ(s[0].at("config").at("threads"), 4);
  EXPECT_EQ(s[0].at("config").at("iterations"), 10);
  EXPECT_EQ(s[0].at("config").at("seed"), 7);
  EXPECT_EQ(s[0].at("config").at("isolation"), "read committed");
  EXPECT_EQ(s[0].at("expectation").at("verdict"), "hold");
  EXPECT_EQ(s[0].at("outcomes").at("committed"), 70);
  EXPECT_EQ(s[0].at("outcomes").at("rejected"), 10);
  EXPECT_EQ(s[0].at("outcomes").size(), 2u);
  EXPECT_EQ(s[0].at("sqlstates").at("40001"), 5);
  EXPECT_EQ(s[0].at("retries"), 5);
  EXPECT_DOUBLE_EQ(s[0].at("detection_rate").get<double>(), 0.0);
  EXPECT_TRUE(s[0].at("first_violation_ms").is_null());

  EXPECT_EQ(s[1].at("verdict"), "violated");
  EXPECT_EQ(s[1].at("matched"), false);
  EXPECT_EQ(s[1].at("config").at("threads"), 8);
  EXPECT_EQ(s[1].at("violating_runs"), 3);
  EXPECT_EQ(s[1].at("repetitions"), 4);
  EXPECT_DOUBLE_EQ(s[1].at("detection_rate").get<double>(), 0.75);
  EXPECT_EQ(s[1].at("outcomes").at("deadlock"), 100);
  const auto& inv = s[1].at("invariants");
  ASSERT_EQ(inv.size(), 2u);
  EXPECT_EQ(inv[0].at("name"), std::string("balance ") + kSpecial + " never negative");
  EXPECT_EQ(inv[0].at("held"), false);
  EXPECT_EQ(inv[0].at("violated_runs"), 3);
  ASSERT_EQ(inv[0].at("witnesses").size(), 2u);
  EXPECT_EQ(inv[0].at("witnesses")[0], std::string("(id=1, note=") + kSpecial + ")");
  EXPECT_DOUBLE_EQ(inv[0].at("first_violation_ms").get<double>(), 1.5);
  EXPECT_EQ(inv[1].at("held"), true);
  EXPECT_TRUE(inv[1].at("first_violation_ms").is_null());
  EXPECT_DOUBLE_EQ(s[1].at("first_violation_ms").at("first").get<double>(), 1.5);
  EXPECT_DOUBLE_EQ(s[1].at("first_violation_ms").at("median").get<double>(), 2.5);

  EXPECT_EQ(s[2].at("verdict"), "error");
  EXPECT_EQ(s[2].at("error"), std::string("the scenario threw: ") + kSpecial);
  EXPECT_EQ(s[2].at("expectation").at("verdict"), "violation");
  EXPECT_EQ(s[2].at("outcomes").at("scenario_error"), 1);

  // It survives a round trip through text.
  EXPECT_EQ(nlohmann::json::parse(j.dump()), j);
}

// A small XML checker, enough for what to_junit emits: a declaration, then
// properly nested elements whose attribute values and text contain no raw
// '<' and no '&' that does not start an entity; attribute values no raw '"'.
struct XmlElement {
  std::string name;
  std::map<std::string, std::string> attributes;  // raw (escaped) values
};

bool valid_entities(const std::string& text) {
  static const std::regex entity(R"(^&(amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)");
  for (std::size_t at = text.find('&'); at != std::string::npos; at = text.find('&', at + 1))
    if (!std::regex_search(text.substr(at, 12), entity)) return false;
  return true;
}

// Returns every element in document order; fails the test on malformed XML.
std::vector<XmlElement> parse_xml(const std::string& xml) {
  std::vector<XmlElement> elements;
  std::vector<std::string> open;
  std::size_t at = 0;
  if (xml.rfind("<?xml", 0) == 0) at = xml.find("?>") + 2;
  static const std::regex attribute(R"(^\s+([A-Za-z_:][-A-Za-z0-9_:.]*)="([^"<]*)\")");
  static const std::regex name_re(R"(^[A-Za-z_:][-A-Za-z0-9_:.]*)");
  while (at < xml.size()) {
    const std::size_t lt = xml.find('<', at);
    const std::string text = xml.substr(at, lt == std::string::npos ? std::string::npos : lt - at);
    EXPECT_TRUE(valid_entities(text)) << "bad '&' in text: " << text;
    if (lt == std::string::npos) break;
    if (xml.compare(lt, 2, "</") == 0) {
      const std::size_t gt = xml.find('>', lt);
      const std::string name = xml.substr(lt + 2, gt - lt - 2);
      EXPECT_FALSE(open.empty()) << "closing </" << name << "> with nothing open";
      if (open.empty()) return elements;
      if (open.back() != name) {
        ADD_FAILURE() << "mis-nested element: </" << name << "> closes <" << open.back() << ">";
        return elements;
      }
      open.pop_back();
      at = gt + 1;
      continue;
    }
    std::smatch m;
    std::string rest = xml.substr(lt + 1);
    if (!std::regex_search(rest, m, name_re)) {
      ADD_FAILURE() << "raw '<' not starting an element at offset " << lt;
      return elements;
    }
    XmlElement e{m.str(), {}};
    std::size_t p = lt + 1 + m.length();
    for (;;) {
      rest = xml.substr(p, 4096);
      if (!std::regex_search(rest, m, attribute)) break;
      EXPECT_TRUE(valid_entities(m.str(2))) << "bad '&' in attribute " << m.str(1) << ": " << m.str(2);
      EXPECT_FALSE(e.attributes.count(m.str(1))) << "duplicate attribute " << m.str(1);
      e.attributes[m.str(1)] = m.str(2);
      p += m.length();
    }
    while (p < xml.size() && std::isspace(static_cast<unsigned char>(xml[p]))) ++p;
    if (xml.compare(p, 2, "/>") == 0) {
      p += 2;
    } else if (p < xml.size() && xml[p] == '>') {
      open.push_back(e.name);
      ++p;
    } else {
      ADD_FAILURE() << "malformed tag <" << e.name << " at offset " << lt << ": "
                    << xml.substr(lt, std::min<std::size_t>(120, xml.size() - lt));
      return elements;
    }
    elements.push_back(std::move(e));
    at = p;
  }
  EXPECT_TRUE(open.empty()) << "unclosed elements, innermost: " << (open.empty() ? "" : open.back());
  return elements;
}

TEST(XmlChecker, RejectsWhatItShould) {
  // The checker itself must be able to fail, or the JUnit test proves nothing.
  EXPECT_NONFATAL_FAILURE(parse_xml("<a x=\"1 & 2\"/>"), "bad '&'");
  EXPECT_NONFATAL_FAILURE(parse_xml("<a x=\"1 \" 2\"/>"), "malformed tag");
  EXPECT_NONFATAL_FAILURE(parse_xml("<a>1 < 2</a>"), "raw '<'");
  EXPECT_NONFATAL_FAILURE(parse_xml("<a><b></a></b>"), "mis-nested");
  EXPECT_NONFATAL_FAILURE(parse_xml("<a>"), "unclosed");
  EXPECT_EQ(parse_xml("<a x=\"&lt;&amp;&quot;\"><b/>t&gt;</a>").size(), 2u);
}

TEST(Report, JunitCountsEscapesAndHasOneTestcasePerScenario) {
  const std::string xml = pgrace::to_junit(sample_report());
  const std::vector<XmlElement> elements = parse_xml(xml);
  ASSERT_FALSE(::testing::Test::HasFailure()) << xml;

  std::vector<const XmlElement*> suites, cases, failures, errors;
  for (const auto& e : elements) {
    if (e.name == "testsuite") suites.push_back(&e);
    if (e.name == "testcase") cases.push_back(&e);
    if (e.name == "failure") failures.push_back(&e);
    if (e.name == "error") errors.push_back(&e);
  }
  ASSERT_EQ(suites.size(), 1u) << xml;
  EXPECT_EQ(suites[0]->attributes.at("tests"), "3");
  EXPECT_EQ(suites[0]->attributes.at("failures"), "1");
  EXPECT_EQ(suites[0]->attributes.at("errors"), "1");
  ASSERT_EQ(cases.size(), 3u) << xml;
  EXPECT_EQ(cases[0]->attributes.at("name"), "demo.safe");
  EXPECT_EQ(cases[1]->attributes.at("name"), "demo.unsafe");
  EXPECT_EQ(cases[2]->attributes.at("name"), "demo.broken");
  EXPECT_EQ(failures.size(), 1u);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0]->attributes.at("message"), HasSubstr("&lt;&amp;&quot;&apos;&gt;"));
  if (!failures.empty()) {
    EXPECT_THAT(failures[0]->attributes.at("message"), HasSubstr("&lt;&amp;&quot;&apos;&gt;"))
        << "the violated invariant's name is in the failure message, escaped";
  }
  // The witness with the special characters appears, escaped, in the text.
  EXPECT_THAT(xml, HasSubstr("note=&lt;&amp;&quot;&apos;&gt;"));
  EXPECT_THAT(xml, Not(HasSubstr(kSpecial)));
  EXPECT_THAT(xml, HasSubstr("<testsuite "));
}

TEST(Report, SummaryTextNamesVerdictAndViolatedInvariant) {
  const std::string text = pgrace::summary_text(mismatched_result());
  EXPECT_THAT(text, HasSubstr("FAIL demo.unsafe: violated"));
  EXPECT_THAT(text, HasSubstr("violated in 3/4 runs"));
  EXPECT_THAT(text, HasSubstr("(id=2, balance=-5)"));
  EXPECT_THAT(pgrace::summary_text(held_result()), HasSubstr("ok   demo.safe: held"));
}

// A witness or description may hold any bytes; on the terminal, control
// characters once reached it raw (an ESC recoloured it, a CR overwrote the
// line), while JSON and JUnit escaped them.
TEST(TerminalText, EscapesControlCharactersAndKeepsLinesAndUtf8) {
  const char raw[] = "a\x1B[31mred\rover\0nul\x7F\x07 \t\u00e9\u20ac\n";
  EXPECT_EQ(pgrace::terminal_text(std::string(raw, sizeof raw - 1)),
            "a\\x1B[31mred\\x0Dover\\x00nul\\x7F\\x07 \t\u00e9\u20ac\n");
  EXPECT_EQ(pgrace::terminal_text("\xC2\x9B"
                                  "2J"),
            "\\xC2\\x9B2J");  // C1 CSI, as UTF-8
  EXPECT_EQ(pgrace::terminal_text("\x9B"
                                  "2J \xFF"),
            "\\x9B2J \\xFF");  // not UTF-8
  EXPECT_EQ(pgrace::terminal_text("plain text"), "plain text");
}

TEST(TerminalText, ASummaryWithControlBytesPrintsThemEscaped) {
  pgrace::ScenarioResult r = mismatched_result();
  r.invariants[0].witnesses = {"(id=1, note=\x1B]0;owned\x07\r"};
  const std::string printed = pgrace::terminal_text(pgrace::summary_text(r));
  EXPECT_THAT(printed, HasSubstr("(id=1, note=\\x1B]0;owned\\x07\\x0D"));
  for (char c : printed) EXPECT_TRUE(c == '\n' || static_cast<unsigned char>(c) >= 0x20) << static_cast<int>(c);
}

// A stress run that ended in an error before any transaction ran (its
// setup failed) prints the error and no empty statistics ("seed 0:, 0
// tx/s"); a run without transactions that was judged says so.
TEST(Report, SummaryOfARunThatDidNothingSaysSo) {
  pgrace::ScenarioResult r;
  r.info.name = "demo.nothing";
  r.verdict = pgrace::Verdict::error;
  r.error = "seed() threw: boom";
  std::string text = pgrace::summary_text(r);
  EXPECT_THAT(text, HasSubstr("error: seed() threw: boom\n"));
  EXPECT_THAT(text, Not(HasSubstr("threads x")));
  EXPECT_THAT(text, Not(HasSubstr("tx/s")));
  r.verdict = pgrace::Verdict::held;
  text = pgrace::summary_text(r);
  EXPECT_THAT(text, HasSubstr("8 threads x 50 iterations, read committed, seed 0: no transaction ran\n"));
  EXPECT_THAT(text, Not(HasSubstr(":,")));
}

// --------------------------------------------------- write_file_atomically

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::vector<std::string> leftover_temporaries(const fs::path& dir) {
  std::vector<std::string> found;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.path().filename().string().find(".tmp.") != std::string::npos) found.push_back(entry.path());
  return found;
}

TEST(WriteFileAtomically, WritesCreatesParentsAndReplaces) {
  pgrace::test::TempDir dir;
  const fs::path target = dir.path() / "nested" / "deeper" / "report.json";
  pgrace::write_file_atomically(target.string(), "{\"first\": 1}\n");
  EXPECT_EQ(slurp(target), "{\"first\": 1}\n");
  pgrace::write_file_atomically(target.string(), "second");
  EXPECT_EQ(slurp(target), "second");
  const std::string big(1 << 20, 'x');
  pgrace::write_file_atomically(target.string(), big);
  EXPECT_EQ(slurp(target), big);
  EXPECT_THAT(leftover_temporaries(dir.path()), IsEmpty());
}

TEST(WriteFileAtomically, UnwritablePathIsUsageErrorNamingThePath) {
  std::string message;
  EXPECT_EQ(error_code_of([&] { pgrace::write_file_atomically("/proc/nonexistent/x.json", "{}"); }, &message),
            ExitCode::usage);
  EXPECT_THAT(message, HasSubstr("/proc/nonexistent/x.json"));
  EXPECT_FALSE(fs::exists("/proc/nonexistent/x.json"));
}

TEST(WriteFileAtomically, TargetThatIsADirectoryIsUsageErrorAndLeavesNoTemporary) {
  pgrace::test::TempDir dir;
  const fs::path target = dir.path() / "taken";
  fs::create_directories(target / "inside");
  EXPECT_EQ(error_code_of([&] { pgrace::write_file_atomically(target.string(), "{}"); }), ExitCode::usage);
  EXPECT_TRUE(fs::is_directory(target));
  EXPECT_THAT(leftover_temporaries(dir.path()), IsEmpty());
}

TEST(UtcNow, IsIso8601Utc) {
  EXPECT_TRUE(std::regex_match(pgrace::utc_now(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")))
      << pgrace::utc_now();
}

}  // namespace
