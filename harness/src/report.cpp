#include "pgrace/report.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "pgrace/error.hpp"

namespace pgrace {
namespace {

std::string xml_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') out += ' ';
        else out += c;
    }
  }
  return out;
}

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

std::string fixed(double value, int digits) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << value;
  return out.str();
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
                     {"outcome", step.outcome},
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
          {"steps", steps}};
}

nlohmann::json to_json(const ScenarioResult& r) {
  using nlohmann::json;
  json schedules = json();
  if (r.mode == "interleave") {
    json violating = json::array();
    for (const auto& s : r.violating_schedules) violating.push_back(to_json(s));
    schedules = {{"total", r.schedules_total},
                 {"explored", r.repetitions},
                 {"infeasible", r.schedules_infeasible},
                 {"violating", r.violating_runs},
                 {"minimal_reproducer", r.violating_schedules.empty() ? json() : to_json(r.violating_schedules.front())},
                 {"violating_schedules", violating}};
  }
  json invariants = json::array();
  for (const auto& inv : r.invariants) {
    invariants.push_back({{"name", inv.name},
                          {"kind", inv.kind},
                          {"held", inv.held},
                          {"violated_runs", inv.violated_runs},
                          {"witnesses", inv.witnesses},
                          {"first_violation_ms", inv.first_violation_ms ? json(*inv.first_violation_ms) : json()}});
  }
  json outcomes = json::object();
  for (const auto& [kind, n] : r.outcomes) outcomes[to_string(kind)] = n;
  json first_violation = json();
  if (!r.first_violation_ms.empty())
    first_violation = {{"first", r.first_violation_ms.front()},
                       {"median", median(r.first_violation_ms)},
                       {"per_run", r.first_violation_ms}};
  return {
      {"name", r.info.name},
      {"description", r.info.description},
      {"mode", r.mode},
      {"schedules", schedules},
      {"expectation",
       {{"verdict", r.info.expectation.expects_violation() ? "violation" : "hold"},
        {"violated", r.info.expectation.violated}}},
      {"verdict", r.verdict},
      {"matched", r.matched},
      {"error", r.error.empty() ? json() : json(r.error)},
      {"config",
       {{"threads", r.knobs.threads},
        {"iterations", r.knobs.duration_s ? json() : json(r.knobs.iterations)},
        {"duration_s", r.knobs.duration_s ? json(*r.knobs.duration_s) : json()},
        {"isolation", to_sql(r.knobs.isolation)},
        {"sync", to_string(r.knobs.sync)},
        {"max_retries", r.knobs.retry.max_retries},
        {"seed", r.seed},
        {"deadlock_timeout", r.deadlock_timeout}}},
      {"repetitions", r.repetitions},
      {"violating_runs", r.violating_runs},
      {"detection_rate", r.repetitions ? double(r.violating_runs) / r.repetitions : 0.0},
      {"invariants", invariants},
      {"outcomes", outcomes},
      {"sqlstates", r.sqlstates},
      {"attempts", r.attempts},
      {"retries", r.retries},
      {"throughput_tps", r.throughput_tps},
      {"latency_ms", {{"p50", r.latency.p50_ms}, {"p90", r.latency.p90_ms}, {"p99", r.latency.p99_ms}, {"max", r.latency.max_ms}}},
      {"first_violation_ms", first_violation},
      {"phases_ms",
       {{"setup", r.phases.setup_ms},
        {"reset", r.phases.reset_ms},
        {"run", r.phases.run_ms},
        {"check", r.phases.check_ms},
        {"teardown", r.phases.teardown_ms}}},
  };
}

nlohmann::json to_json(const RunReport& report) {
  using nlohmann::json;
  int matched = 0, errors = 0;
  json scenarios = json::array();
  for (const auto& r : report.scenarios) {
    matched += r.matched;
    errors += r.verdict == "error";
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
        {"provision_ms",
         report.server_source == "ephemeral"
             ? json{{"total", p.total_ms}, {"initdb", p.initdb_ms}, {"copy", p.copy_ms}, {"start", p.start_ms}, {"cache_hit", p.cache_hit}}
             : json()}}},
      {"seed", report.seed},
      {"repeat", report.repeat},
      {"summary",
       {{"scenarios", report.scenarios.size()},
        {"matched", matched},
        {"mismatched", static_cast<int>(report.scenarios.size()) - matched},
        {"errors", errors}}},
      {"scenarios", scenarios},
  };
}

std::string to_junit(const RunReport& report) {
  int failures = 0, errors = 0;
  double total_s = 0;
  std::ostringstream cases;
  for (const auto& r : report.scenarios) {
    const double seconds = (r.phases.setup_ms + r.phases.reset_ms + r.phases.run_ms + r.phases.check_ms) / 1000;
    total_s += seconds;
    cases << "  <testcase classname=\"pgrace." << xml_escape(r.info.name.substr(0, r.info.name.find('.')))
          << "\" name=\"" << xml_escape(r.info.name) << "\" time=\"" << fixed(seconds, 3) << "\">\n";
    if (r.verdict == "error") {
      ++errors;
      cases << "    <error message=\"" << xml_escape(r.error) << "\"/>\n";
    } else if (!r.matched) {
      ++failures;
      const std::string message = "expected " + expectation_text(r.info.expectation) + ", violated " +
                                  violated_text(r) + " in " + std::to_string(r.violating_runs) + "/" +
                                  std::to_string(r.repetitions) + " runs";
      cases << "    <failure message=\"" << xml_escape(message) << "\">" << xml_escape(summary_text(r))
            << "</failure>\n";
    }
    cases << "    <system-out>" << xml_escape(summary_text(r)) << "</system-out>\n";
    cases << "  </testcase>\n";
  }
  std::ostringstream out;
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<testsuites name=\"pgrace\" tests=\"" << report.scenarios.size() << "\" failures=\"" << failures
      << "\" errors=\"" << errors << "\" time=\"" << fixed(total_s, 3) << "\">\n"
      << "<testsuite name=\"pgrace\" tests=\"" << report.scenarios.size() << "\" failures=\"" << failures
      << "\" errors=\"" << errors << "\" time=\"" << fixed(total_s, 3) << "\" timestamp=\""
      << xml_escape(report.started_at) << "\">\n"
      << cases.str() << "</testsuite>\n</testsuites>\n";
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
    if (s.outcome == "not_run") {
      out << "(not run)\n";
      continue;
    }
    out << (s.waited ? "waited, then " : "") << (s.outcome == "ok" ? "ok" : s.outcome + " " + s.sqlstate);
    if (s.waited || s.completed_as >= 0) out << " (completed " << (s.completed_as >= 0 ? std::to_string(s.completed_as + 1) : "never") << ")";
    if (s.outcome == "ok" && !s.observation.empty()) out << " -> " << s.observation;
    out << "\n       " << std::string(width + 2, ' ') << (s.sql.empty() ? "(C++ step sent nothing)" : s.sql) << "\n";
  }
  if (!schedule.note.empty()) out << "  note: " << schedule.note << "\n";
  return out.str();
}

std::string summary_text(const ScenarioResult& r) {
  std::ostringstream out;
  const char* mark = r.matched ? "ok  " : "FAIL";
  out << mark << " " << r.info.name << ": " << r.verdict;
  if (r.verdict == "violated") out << " " << violated_text(r);
  out << " (expected " << expectation_text(r.info.expectation) << ")";
  if (r.mode == "interleave") {
    out << ", " << r.violating_runs << "/" << r.repetitions << " schedules violated";
    if (r.schedules_infeasible) out << " (" << r.schedules_infeasible << " infeasible)";
    out << ", " << to_sql(r.knobs.isolation) << "\n";
    if (!r.violating_schedules.empty())
      out << "     minimal reproducer: " << [&] {
        std::string text;
        for (const auto& step : r.violating_schedules.front().schedule) text += (text.empty() ? "" : " ") + step;
        return text;
      }() << "\n";
    return out.str();
  }
  if (r.repetitions > 1) out << ", violated in " << r.violating_runs << "/" << r.repetitions << " runs";
  out << "\n";
  if (!r.error.empty()) out << "     error: " << r.error << "\n";
  out << "     " << r.knobs.threads << " threads x "
      << (r.knobs.duration_s ? fixed(*r.knobs.duration_s, 1) + " s" : std::to_string(r.knobs.iterations) + " iterations")
      << ", " << to_sql(r.knobs.isolation) << ", seed " << r.seed << ":";
  for (const auto& [kind, n] : r.outcomes) out << " " << to_string(kind) << "=" << n;
  if (r.retries) out << " retries=" << r.retries;
  out << ", " << fixed(r.throughput_tps, 0) << " tx/s, p50 " << fixed(r.latency.p50_ms, 2) << " ms, p99 "
      << fixed(r.latency.p99_ms, 2) << " ms";
  if (!r.first_violation_ms.empty()) out << ", first violation after " << fixed(r.first_violation_ms.front(), 1) << " ms";
  out << "\n";
  for (const auto& inv : r.invariants) {
    if (inv.held) continue;
    out << "     violated \"" << inv.name << "\":";
    for (std::size_t i = 0; i < inv.witnesses.size() && i < 3; ++i) out << " " << inv.witnesses[i];
    if (inv.witnesses.size() > 3) out << " ...";
    out << "\n";
  }
  return out.str();
}

void write_file_atomically(const std::string& path, const std::string& content) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  std::error_code ec;
  if (target.has_parent_path()) fs::create_directories(target.parent_path(), ec);
  const fs::path temporary = target.string() + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << content;
    out.flush();
    if (!out) {
      fs::remove(temporary, ec);
      throw usage_error("cannot write report " + path + ": " + std::strerror(errno) +
                        " (choose a writable path)");
    }
  }
  fs::rename(temporary, target, ec);
  if (ec) {
    fs::remove(temporary, ec);
    throw usage_error("cannot write report " + path + ": " + ec.message() + " (choose a writable path)");
  }
}

void check_writable(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  std::error_code ec;
  if (target.has_parent_path()) fs::create_directories(target.parent_path(), ec);
  const fs::path probe = target.string() + ".probe." + std::to_string(getpid());
  std::ofstream out(probe);
  if (!out)
    throw usage_error("cannot write report " + path + ": " + std::strerror(errno) + " (choose a writable path)");
  out.close();
  fs::remove(probe, ec);
  if (fs::is_directory(target, ec)) throw usage_error("report path " + path + " is a directory: give a file name");
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
