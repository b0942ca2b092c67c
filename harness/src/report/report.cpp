#include "pgrace/report.hpp"

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "pgrace/error.hpp"

namespace pgrace {
namespace {

// The length of the UTF-8 sequence at text[i] if it is a valid character
// that XML 1.0 allows (not a surrogate, U+FFFE or U+FFFF), else 0.
std::size_t valid_utf8_length(const std::string& text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  const std::size_t length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 0;
  if (length == 0 || lead > 0xF4 || i + length > text.size()) return 0;
  std::uint32_t code = lead & (0x7F >> length);
  for (std::size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    code = (code << 6) | (byte(i + k) & 0x3F);
  }
  static const std::uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code < smallest[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF) || code == 0xFFFE ||
      code == 0xFFFF)
    return 0;
  return length;
}

// The byte `c` as the text "\xNN".
std::string hex_escaped(unsigned char c) {
  static const char hex[] = "0123456789ABCDEF";
  return std::string("\\x") + hex[c >> 4] + hex[c & 0xF];
}

// `text` as XML character data (or, with `attribute`, an attribute value in
// double quotes) that is well-formed XML 1.0 whatever `text` holds: markup
// escaped, invalid UTF-8 as U+FFFD, control characters XML forbids as the
// text "\xNN"; in attributes tab, newline and CR as character references so
// that parsers keep them.
std::string xml_escape(const std::string& text, bool attribute = false) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      const std::size_t length = valid_utf8_length(text, i);
      out += length ? text.substr(i, length) : "\xEF\xBF\xBD";
      i += length ? length : 1;
      continue;
    }
    ++i;
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '\r':
        out += "&#13;";
        break;
      case '\n':
        out += attribute ? "&#10;" : "\n";
        break;
      case '\t':
        out += attribute ? "&#9;" : "\t";
        break;
      default:
        out += c < 0x20 ? hex_escaped(c) : std::string(1, static_cast<char>(c));
    }
  }
  return out;
}

}  // namespace

std::string expectation_text(const Expectation& e) {
  if (!e.expects_violation()) return "hold";
  std::string text = "violation of ";
  bool first = true;
  for (const auto& name : e.violated) {
    text += (first ? "\"" : ", \"") + name + "\"";
    first = false;
  }
  return text;
}

namespace {

std::string violated_text(const ScenarioResult& r) {
  std::string text;
  for (const auto& inv : r.invariants)
    if (!inv.held) text += (text.empty() ? "\"" : ", \"") + inv.name + "\"";
  return text.empty() ? "none" : text;
}

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// The JSON's and the texts' runs: repetitions (stress) or schedules
// explored (interleave), and how many of them violated an invariant.
struct Runs {
  long total = 0;
  long violating = 0;
};

Runs runs_of(const ScenarioResult& r) {
  if (r.mode == Mode::interleave) return {r.exploration.explored, r.exploration.violating};
  return {r.stress.repetitions, r.stress.violating_runs};
}

std::string fixed(double value, int digits) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << value;
  return out.str();
}

// The knobs' fault rules, as --fault takes them.
nlohmann::json fault_rules_json(const std::vector<FaultRule>& rules) {
  nlohmann::json out = nlohmann::json::array();
  for (const FaultRule& rule : rules) out.push_back(to_string(rule));
  return out;
}

// Stress mode: the faults injected, by kind.
nlohmann::json faults_json(const std::map<FaultKind, long>& faults) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [kind, n] : faults) out[to_string(kind)] = n;
  return out;
}

// Stress mode with faults: the requests of the first violating repetition, null without one.
nlohmann::json requests_json(const Stress& stress) {
  if (!stress.requests_repetition) return nullptr;
  nlohmann::json list = nlohmann::json::array();
  for (const RequestRecord& q : stress.requests)
    list.push_back({{"worker", q.worker},
                    {"sql", q.sql},
                    {"started_ms", q.started_ms},
                    {"ended_ms", q.ended_ms},
                    {"status", q.status ? nlohmann::json(std::string(1, q.status)) : nlohmann::json()},
                    {"sqlstate", q.sqlstate.empty() ? nlohmann::json() : nlohmann::json(q.sqlstate)},
                    {"fault", q.fault ? nlohmann::json(to_string(*q.fault)) : nlohmann::json()}});
  return {{"repetition", stress.requests_repetition}, {"list", list}};
}

// Stress mode: the "pool" object of a scenario, null without a pool.
nlohmann::json pool_json(const std::optional<PoolStats>& pool) {
  if (!pool) return nullptr;
  const LatencySummary& w = pool->wait;
  return {{"size", pool->size},
          {"acquire_timeout_ms", pool->acquire_timeout_ms},
          {"acquires", pool->acquires},
          {"timeouts", pool->timeouts},
          {"peak_leased", pool->peak_leased},
          {"leaked", pool->leaked},
          {"wait_ms", {{"p50", w.p50_ms}, {"p90", w.p90_ms}, {"p99", w.p99_ms}, {"max", w.max_ms}}}};
}

// "pool: 4 connections, peak 4 leased, 80 acquires, 36 timed out after the configured 50 ms, wait p50 ...
// ms, 0 leaked" (without "after ..." when some acquire passed its own timeout)
std::string pool_text(const PoolStats& pool) {
  return "pool: " + std::to_string(pool.size) + " connections, peak " + std::to_string(pool.peak_leased) + " leased, " +
         std::to_string(pool.acquires) + " acquires, " + std::to_string(pool.timeouts) + " timed out" +
         (pool.other_timeouts ? "" : " after the configured " + fixed(pool.acquire_timeout_ms, 0) + " ms") +
         ", wait p50 " + fixed(pool.wait.p50_ms, 1) + " / p90 " + fixed(pool.wait.p90_ms, 1) + " / p99 " +
         fixed(pool.wait.p99_ms, 1) + " / max " + fixed(pool.wait.max_ms, 1) + " ms, " + std::to_string(pool.leaked) +
         " leaked";
}

}  // namespace

int exit_code_of(const std::vector<ScenarioResult>& results) {
  for (const auto& r : results)
    if (!r.matched) return static_cast<int>(ExitCode::mismatch);
  return static_cast<int>(ExitCode::ok);
}

nlohmann::json to_json(const ScheduleResult& schedule) {
  using nlohmann::json;
  json steps = json::array();
  for (const auto& step : schedule.steps)
    steps.push_back({{"step", step.step},
                     {"session", step.session},
                     {"sql", step.sql},
                     {"outcome", to_string(step.outcome)},
                     {"waited", step.waited},
                     {"sqlstate", step.sqlstate.empty() ? json() : json(step.sqlstate)},
                     {"message", step.message.empty() ? json() : json(step.message)},
                     {"observation", step.observation},
                     {"completed_as", step.completed_as >= 0 ? json(step.completed_as) : json()}});
  return {{"schedule", schedule.schedule},
          {"feasible", schedule.feasible},
          {"note", schedule.note.empty() ? json() : json(schedule.note)},
          {"violated", schedule.violated},
          {"completion_order", schedule.completion_order},
          {"draw", schedule.draw ? json(*schedule.draw) : json()},
          {"steps", steps}};
}

namespace {

nlohmann::json schedules_json(const std::vector<ScheduleResult>& schedules) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : schedules) out.push_back(to_json(s));
  return out;
}

// Interleave mode: the "schedules" object of a scenario.
nlohmann::json exploration_json(const ScenarioResult& r) {
  using nlohmann::json;
  const Exploration& e = r.exploration;
  json bounds = json::array();
  for (const auto& b : e.bounds)
    bounds.push_back({{"switches", b.switches},
                      {"total", b.total},
                      {"explored", b.explored},
                      {"infeasible", b.infeasible},
                      {"violated", b.violated},
                      {"held", b.explored - b.infeasible - b.violated}});
  json shrinking = json();
  if (e.shrinking)
    shrinking = {{"invariant", e.shrinking->invariant},
                 {"changes", e.shrinking->changes},
                 {"attempts", e.shrinking->attempts},
                 {"original", to_json(e.shrinking->original)}};
  return {{"total", e.total},
          {"explored", e.explored},
          {"infeasible", e.infeasible},
          {"violating", e.violating},
          {"max_switches", e.max_switches ? json(*e.max_switches) : json()},
          {"statement_workers", e.statement_workers},
          {"faulted", e.faulted},
          {"draws", e.draws},
          {"inputs_drawn", e.inputs_drawn},
          {"runners", e.runners},
          {"first_violation_ms", e.first_violation_ms ? json(*e.first_violation_ms) : json()},
          {"shard", e.shard ? json{{"index", e.shard->index},
                                   {"count", e.shard->count},
                                   {"parts", e.shard->parts},
                                   {"discovery", e.shard->discovery},
                                   {"empty", e.shard->empty()}}
                            : json()},
          {"by_switches", bounds},
          {"stopped", e.stopped.empty() ? json() : json(e.stopped)},
          {"minimal_reproducer", e.reproducer ? to_json(*e.reproducer) : json()},
          {"shrinking", shrinking},
          {"violating_schedules", schedules_json(e.violating_schedules)},
          {"held_schedules", schedules_json(e.held_schedules)}};
}

}  // namespace

nlohmann::json to_json(const ScenarioResult& r) {
  using nlohmann::json;
  const json schedules = r.mode == Mode::interleave ? exploration_json(r) : json();
  const Runs runs = runs_of(r);
  const Stress& stress = r.stress;
  json invariants = json::array();
  for (const auto& inv : r.invariants) {
    invariants.push_back({{"name", inv.name},
                          {"kind", to_string(inv.kind)},
                          {"held", inv.held},
                          {"violated_runs", inv.violated_runs},
                          {"witnesses", inv.witnesses},
                          {"first_violation_ms", inv.first_violation_ms ? json(*inv.first_violation_ms) : json()}});
    if (inv.kind == InvariantKind::uses_index)
      invariants.back()["plan"] = {
          {"sql", inv.sql}, {"params", inv.params}, {"table", inv.table}, {"settings", plan_settings()}};
  }
  json outcomes = json::object();
  for (const auto& [kind, n] : r.outcomes) outcomes[to_string(kind)] = n;
  json first_violation = json();
  if (!stress.first_violation_ms.empty())
    first_violation = {{"first", stress.first_violation_ms.front()},
                       {"median", median(stress.first_violation_ms)},
                       {"per_run", stress.first_violation_ms}};
  json scenario = {
      {"name", r.info.name},
      {"description", r.info.description},
      {"mode", to_string(r.mode)},
      {"schedules", schedules},
      {"expectation",
       {{"verdict", r.info.expectation.expects_violation() ? "violation" : "hold"},
        {"violated", r.info.expectation.violated}}},
      {"verdict", to_string(r.verdict)},
      {"matched", r.matched},
      {"error", r.error.empty() ? json() : json(r.error)},
      {"config",
       {{"threads", r.knobs.threads},
        {"iterations", r.knobs.duration_s ? json() : json(r.knobs.iterations)},
        {"duration_s", r.knobs.duration_s ? json(*r.knobs.duration_s) : json()},
        {"isolation", to_sql(r.knobs.isolation)},
        {"sync", to_string(r.knobs.sync)},
        {"max_retries", r.knobs.retry.max_retries},
        {"faults", fault_rules_json(r.knobs.faults)},
        {"seed", r.seed},
        {"seed_text", std::to_string(r.seed)},
        {"deadlock_timeout", r.deadlock_timeout}}},
      {"repetitions", runs.total},
      {"violating_runs", runs.violating},
      {"detection_rate", runs.total ? double(runs.violating) / runs.total : 0.0},
      {"invariants", invariants},
      {"outcomes", outcomes},
      {"sqlstates", r.sqlstates},
      {"attempts", r.attempts},
      {"retries", stress.retries},
      {"throughput_tps", r.mode == Mode::interleave ? r.exploration.schedules_per_s : stress.throughput_tps},
      {"latency_ms",
       {{"p50", stress.latency.p50_ms},
        {"p90", stress.latency.p90_ms},
        {"p99", stress.latency.p99_ms},
        {"max", stress.latency.max_ms}}},
      {"first_violation_ms", first_violation},
      {"pool", pool_json(stress.pool)},
      {"faults", faults_json(stress.faults)},
      {"requests", requests_json(stress)},
      {"phases_ms",
       {{"setup", r.phases.setup_ms},
        {"reset", r.phases.reset_ms},
        {"run", r.phases.run_ms},
        {"check", r.phases.check_ms},
        {"teardown", r.phases.teardown_ms}}},
  };
  if (r.kept) scenario["kept"] = {{"database", r.kept->database}, {"state", r.kept->state}};
  if (!r.server_log.empty()) scenario["server_log"] = r.server_log;
  return scenario;
}

nlohmann::json to_json(const RunReport& report) {
  using nlohmann::json;
  int matched = 0, errors = 0;
  json scenarios = json::array();
  for (const auto& r : report.scenarios) {
    matched += r.matched;
    errors += r.verdict == Verdict::error;
    scenarios.push_back(to_json(r));
  }
  const ProvisionTimings& p = report.provision;
  return {
      {"schema_version", kReportSchemaVersion},
      {"tool", {{"name", "pgrace"}, {"version", report.tool_version}}},
      {"started_at", report.started_at},
      {"wall_ms", report.wall_ms},
      {"exit_code", report.exit_code},
      {"server",
       {{"source", report.server_source},
        {"version", report.server_version},
        {"dsn", report.server_dsn},
        {"settings", report.server_settings},
        {"provision_ms", report.server_source == "ephemeral" ? json{{"total", p.total_ms},
                                                                    {"initdb", p.initdb_ms},
                                                                    {"copy", p.copy_ms},
                                                                    {"start", p.start_ms},
                                                                    {"cache_hit", p.cache_hit}}
                                                             : json()}}},
      {"seed", report.seed},
      {"seed_text", std::to_string(report.seed)},
      {"repeat", report.repeat},
      {"shard",
       report.shard.count
           ? json{{"index", report.shard.index}, {"count", report.shard.count}, {"selected", report.shard.selected}}
           : json()},
      {"summary",
       {{"scenarios", report.scenarios.size()},
        {"matched", matched},
        {"mismatched", static_cast<int>(report.scenarios.size()) - matched},
        {"errors", errors}}},
      {"scenarios", scenarios},
  };
}

namespace {

using Properties = std::vector<std::pair<std::string, std::string>>;

std::string properties_xml(const Properties& properties, const std::string& indent) {
  std::string out = indent + "<properties>\n";
  for (const auto& [name, value] : properties)
    out += indent + "  <property name=\"" + xml_escape(name, true) + "\" value=\"" + xml_escape(value, true) + "\"/>\n";
  return out + indent + "</properties>\n";
}

Properties suite_properties(const RunReport& report) {
  Properties p = {{"seed", std::to_string(report.seed)},
                  {"server_version", report.server_version},
                  {"server_source", report.server_source},
                  {"pgrace_version", report.tool_version},
                  {"repeat", std::to_string(report.repeat)}};
  if (report.shard.count)
    p.emplace_back("shard", std::to_string(report.shard.index) + "/" + std::to_string(report.shard.count));
  return p;
}

Properties case_properties(const RunReport& report, const ScenarioResult& r) {
  Properties p = {{"seed", std::to_string(r.seed)},
                  {"server_version", report.server_version},
                  {"isolation", to_sql(r.knobs.isolation)},
                  {"mode", to_string(r.mode)}};
  if (r.mode != Mode::interleave) {
    if (r.mode == Mode::stress) p.emplace_back("threads", std::to_string(r.knobs.threads));
    p.emplace_back("repeat", std::to_string(report.repeat));
  } else {
    p.emplace_back("schedules_explored", std::to_string(r.exploration.explored));
  }
  p.emplace_back("verdict", to_string(r.verdict));
  return p;
}

// `file` (a scenario's __FILE__) as CI annotations need it, relative to
// the repository root: an absolute path is made relative to the current
// directory (the repository root, in CI) when it lies below it; a relative
// one (compilers see those when ccache's base_dir is set: relative to the
// build directory) loses its leading "../" and "./", which fits a build
// directory inside the source tree.
std::string source_path(const std::string& file) {
  namespace fs = std::filesystem;
  const fs::path path(file);
  if (path.is_relative()) {
    fs::path stripped;
    bool leading = true;
    for (const auto& part : path) {
      leading = leading && (part == ".." || part == ".");
      if (!leading) stripped /= part;
    }
    return stripped.empty() ? file : stripped.string();
  }
  std::error_code ec;
  const fs::path relative = path.lexically_relative(fs::current_path(ec));
  if (ec || relative.empty() || *relative.begin() == "..") return file;
  return relative.string();
}

// What went wrong with a mismatched scenario: the invariants violated
// (with their witnesses) and the expected ones that held, then how to rerun it.
std::string failure_body(const RunReport& report, const ScenarioResult& r) {
  std::ostringstream out;
  const std::string runs = r.mode == Mode::interleave ? " schedule(s)" : " run(s)";
  const long total = runs_of(r).total;
  for (const auto& inv : r.invariants) {
    const bool expected = r.info.expectation.violated.count(inv.name) > 0;
    if (!inv.held) {
      out << "violated \"" << inv.name << "\"" << (expected ? "" : " (expected to hold)") << " in " << inv.violated_runs
          << "/" << total << runs << "; witnesses:\n";
      for (const auto& w : inv.witnesses) out << "  " << w << "\n";
    }
    if (expected && inv.violated_runs < total && r.mode != Mode::interleave)
      out << "expected \"" << inv.name << "\" to be violated in every run; it held in " << total - inv.violated_runs
          << "/" << total << " runs\n";
    if (expected && inv.held && r.mode == Mode::interleave)
      out << "expected \"" << inv.name << "\" to be violated in some schedule; it held in all " << total << "\n";
  }
  if (r.exploration.reproducer) out << "minimal violating schedule:\n" << schedule_text(*r.exploration.reproducer);
  out << "reproduce: " << reproducer_command(report, r) << "\n";
  return out.str();
}

// "unexpected_violation" when an invariant expected to hold was violated,
// else "missed_violation" (an expected violation did not show every time).
std::string failure_type(const ScenarioResult& r) {
  for (const auto& inv : r.invariants)
    if (!inv.held && !r.info.expectation.violated.count(inv.name)) return "unexpected_violation";
  return "missed_violation";
}

}  // namespace

std::string to_junit(const RunReport& report, const std::string& suite) {
  int failures = 0, errors = 0;
  double total_s = 0;
  std::ostringstream cases;
  for (const auto& r : report.scenarios) {
    const double seconds = (r.phases.setup_ms + r.phases.reset_ms + r.phases.run_ms + r.phases.check_ms) / 1000;
    total_s += seconds;
    cases << "  <testcase classname=\"pgrace." << xml_escape(r.info.name.substr(0, r.info.name.find('.')), true)
          << "\" name=\"" << xml_escape(r.info.name, true) << "\" time=\"" << fixed(seconds, 3) << "\"";
    if (!r.info.source_file.empty())
      cases << " file=\"" << xml_escape(source_path(r.info.source_file), true) << "\" line=\"" << r.info.source_line
            << "\"";
    cases << ">\n" << properties_xml(case_properties(report, r), "    ");
    if (r.verdict == Verdict::error) {
      ++errors;
      cases << "    <error type=\"error\" message=\"" << xml_escape(r.error, true) << "\">"
            << xml_escape("error: " + r.error + "\nreproduce: " + reproducer_command(report, r) + "\n") << "</error>\n";
    } else if (!r.matched) {
      ++failures;
      const std::string message = "expected " + expectation_text(r.info.expectation) + ", violated " +
                                  violated_text(r) + " in " + std::to_string(runs_of(r).violating) + "/" +
                                  std::to_string(runs_of(r).total) + " runs";
      cases << "    <failure type=\"" << failure_type(r) << "\" message=\"" << xml_escape(message, true) << "\">"
            << xml_escape(failure_body(report, r)) << "</failure>\n";
    }
    cases << "    <system-out>" << xml_escape(summary_text(r)) << "</system-out>\n";
    cases << "  </testcase>\n";
  }
  const std::string counts = "tests=\"" + std::to_string(report.scenarios.size()) + "\" failures=\"" +
                             std::to_string(failures) + "\" errors=\"" + std::to_string(errors) + "\" time=\"" +
                             fixed(total_s, 3) + "\"";
  std::ostringstream out;
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<testsuites name=\"" << xml_escape(suite, true) << "\" " << counts << ">\n"
      << "<testsuite name=\"" << xml_escape(suite, true) << "\" " << counts << " skipped=\"0\" timestamp=\""
      << xml_escape(report.started_at, true) << "\">\n"
      << properties_xml(suite_properties(report), "  ") << cases.str() << "</testsuite>\n</testsuites>\n";
  return out.str();
}

std::string schedule_text(const ScheduleResult& schedule) {
  std::ostringstream out;
  std::size_t width = 0;
  for (const auto& step : schedule.steps) width = std::max(width, step.session.size() + step.step.size() + 1);
  for (std::size_t i = 0; i < schedule.steps.size(); ++i) {
    const StepRecord& s = schedule.steps[i];
    const std::string label = s.session + " " + s.step;
    out << "  " << std::setw(2) << i + 1 << ". " << label << std::string(width - label.size() + 2, ' ');
    if (s.outcome == StepOutcome::not_run) {
      out << "(not run)\n";
      continue;
    }
    out << (s.waited ? "waited, then " : "")
        << (s.outcome == StepOutcome::ok ? "ok" : std::string(to_string(s.outcome)) + " " + s.sqlstate);
    if (s.waited || s.completed_as >= 0)
      out << " (completed " << (s.completed_as >= 0 ? std::to_string(s.completed_as + 1) : "never") << ")";
    if (s.outcome == StepOutcome::ok && !s.observation.empty()) out << " -> " << s.observation;
    out << "\n       " << std::string(width + 2, ' ') << (s.sql.empty() ? "(C++ step sent nothing)" : s.sql) << "\n";
  }
  if (!schedule.note.empty()) out << "  note: " << schedule.note << "\n";
  return out.str();
}

std::string bounds_text(const Exploration& exploration) {
  if (exploration.bounds.empty()) return "";
  std::string text = "by context switches:";
  const char* separator = " ";
  for (const auto& b : exploration.bounds) {
    text += separator + std::to_string(b.switches) + ": ";
    separator = " | ";
    if (b.explored == 0) {
      text += "0 of " + std::to_string(b.total) + " explored";
      continue;
    }
    if (static_cast<std::uint64_t>(b.explored) < b.total)
      text += std::to_string(b.explored) + " of " + std::to_string(b.total) + " explored, ";
    text += std::to_string(b.explored - b.infeasible - b.violated) + " held";
    if (b.violated) text += ", " + std::to_string(b.violated) + " violated";
    if (b.infeasible) text += ", " + std::to_string(b.infeasible) + " infeasible";
  }
  if (exploration.max_switches) text += " (--max-switches " + std::to_string(*exploration.max_switches) + ")";
  if (!exploration.stopped.empty()) text += "; " + exploration.stopped;
  return text;
}

std::string draws_text(const Exploration& exploration) {
  if (!exploration.statement_workers) return "";
  if (!exploration.inputs_drawn) return "inputs: one (the workers draw no parameters from w.rng())";
  return "inputs: " + std::to_string(exploration.draws) + " draw" + (exploration.draws == 1 ? "" : "s") +
         " of the workers' w.rng() (--draws)";
}

std::string shard_prefix(const Exploration& exploration) {
  if (!exploration.shard) return "";
  return "shard " + std::to_string(exploration.shard->index) + "/" + std::to_string(exploration.shard->count) + ": ";
}

std::string shard_text(const Exploration& exploration) {
  if (!exploration.shard) return "";
  const ShardShare& shard = *exploration.shard;
  const std::string name = "shard " + std::to_string(shard.index) + "/" + std::to_string(shard.count);
  const std::string parts = exploration.statement_workers
                                ? std::to_string(shard.parts) +
                                      " part(s) (each input draw's first execution, and each order branching off it "
                                      "within the switch bound, with the orders below)"
                                : std::to_string(shard.parts) + " planned schedule(s)";
  if (shard.empty())
    return name + " explored nothing: the exploration has " + parts + ", fewer than the " +
           std::to_string(shard.count) +
           " shards, and the other shards explore all of it; not a failure, but fewer shards would do";
  const auto nth = [&](int k) { return std::to_string(shard.index + k * shard.count); };
  std::string text = name + " explores numbers " + nth(0) + ", " + nth(1) + ", " + nth(2) + ", ... of the " + parts;
  if (exploration.statement_workers)
    text += "; " + std::to_string(shard.discovery) + " first execution(s) of other shards run only to find its parts";
  return text;
}

namespace {

// "8 threads x 50 iterations, read committed, seed 7: committed=400, 812
// tx/s, ...": what a stress run did.
std::string stress_text(const ScenarioResult& r) {
  const Stress& stress = r.stress;
  std::ostringstream out;
  out << r.knobs.threads << " threads x "
      << (r.knobs.duration_s ? fixed(*r.knobs.duration_s, 1) + " s"
                             : std::to_string(r.knobs.iterations) + " iterations")
      << ", " << to_sql(r.knobs.isolation) << ", seed " << r.seed << ":";
  if (r.attempts == 0) return out.str() + " no transaction ran";
  for (const auto& [kind, n] : r.outcomes) out << " " << to_string(kind) << "=" << n;
  if (stress.retries) out << " retries=" << stress.retries;
  out << ", " << fixed(stress.throughput_tps, 0) << " tx/s, p50 " << fixed(stress.latency.p50_ms, 2) << " ms, p99 "
      << fixed(stress.latency.p99_ms, 2) << " ms";
  for (const auto& [kind, n] : stress.faults) out << ", " << to_string(kind) << " faults " << n;
  if (!stress.first_violation_ms.empty())
    out << ", first violation after " << fixed(stress.first_violation_ms.front(), 1) << " ms";
  return out.str();
}

}  // namespace

std::string summary_text(const ScenarioResult& r) {
  std::ostringstream out;
  const char* mark = r.matched ? "ok  " : "FAIL";
  out << mark << " " << r.info.name << ": " << to_string(r.verdict);
  if (r.verdict == Verdict::violated) out << " " << violated_text(r);
  out << " (expected " << expectation_text(r.info.expectation) << ")";
  if (r.mode == Mode::interleave) {
    out << ", " << shard_prefix(r.exploration) << r.exploration.violating << "/" << r.exploration.explored
        << " schedules violated";
    if (r.exploration.infeasible) out << " (" << r.exploration.infeasible << " infeasible)";
    out << ", " << to_sql(r.knobs.isolation) << "\n";
    if (const std::string draws = draws_text(r.exploration); !draws.empty()) out << "     " << draws << "\n";
    if (const std::string shard = shard_text(r.exploration); !shard.empty()) out << "     " << shard << "\n";
    if (!r.error.empty()) out << "     error: " << r.error << "\n";
    if (const std::string bounds = bounds_text(r.exploration); !bounds.empty()) out << "     " << bounds << "\n";
    if (r.exploration.reproducer) {
      std::string steps;
      for (const auto& step : r.exploration.reproducer->schedule) steps += (steps.empty() ? "" : " ") + step;
      out << "     minimal reproducer: " << steps << "\n";
    }
    return out.str();
  }
  const Stress& stress = r.stress;
  if (stress.repetitions > 1) out << ", violated in " << stress.violating_runs << "/" << stress.repetitions << " runs";
  out << "\n";
  if (!r.error.empty()) out << "     error: " << r.error << "\n";
  if (r.mode == Mode::check)
    out << "     no concurrent work: invariants checked on the seeded database, " << stress.repetitions << " time(s)\n";
  else if (r.attempts > 0 || r.verdict != Verdict::error)  // an error before any transaction: nothing to count
    out << "     " << stress_text(r) << "\n";
  if (stress.pool) out << "     " << pool_text(*stress.pool) << "\n";
  for (const auto& inv : r.invariants) {
    if (inv.held) continue;
    out << "     violated \"" << inv.name << "\":";
    for (std::size_t i = 0; i < inv.witnesses.size() && i < 3; ++i) out << " " << inv.witnesses[i];
    if (inv.witnesses.size() > 3) out << " ...";
    out << "\n";
  }
  return out.str();
}

std::string terminal_text(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    const std::size_t length = c < 0x80 ? 1 : valid_utf8_length(text, i);
    const bool c1 = length == 2 && c == 0xC2 && static_cast<unsigned char>(text[i + 1]) < 0xA0;  // U+0080..U+009F
    if (length == 0 || c1 || (c < 0x20 && c != '\n' && c != '\t') || c == 0x7F) {
      for (std::size_t k = 0; k < std::max<std::size_t>(length, 1); ++k)
        out += hex_escaped(static_cast<unsigned char>(text[i + k]));
      i += std::max<std::size_t>(length, 1);
    } else {
      out.append(text, i, length);
      i += length;
    }
  }
  return out;
}

std::string utc_now() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

}  // namespace pgrace
