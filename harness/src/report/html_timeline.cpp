// The HTML timeline page: the typed results as the page's JSON data,
// embedded in the page template (timeline.html, compiled in by CMake).

#include <string>

#include "pgrace/report.hpp"
#include "report/timeline_page.hpp"

namespace pgrace {
namespace {

using nlohmann::json;

json optional_text(const std::string& text) { return text.empty() ? json() : json(text); }

json fault_json(const std::optional<FaultKind>& fault) { return fault ? json(to_string(*fault)) : json(); }

json step_json(const StepRecord& s) {
  return {{"step", s.step},
          {"session", s.session},
          {"sql", s.sql},
          {"outcome", to_string(s.outcome)},
          {"waited", s.waited},
          {"blocked_by", s.blocked_by},
          {"sqlstate", optional_text(s.sqlstate)},
          {"message", optional_text(s.message)},
          {"observation", optional_text(s.observation)},
          {"completed_as", s.completed_as},
          {"fault", fault_json(s.fault)}};
}

// A schedule's timeline: its steps in the order they started.
json schedule_timeline(const std::string& title, const ScheduleResult& schedule) {
  json steps = json::array();
  for (const auto& step : schedule.steps) steps.push_back(step_json(step));
  return {{"kind", "steps"},
          {"title", title},
          {"note", optional_text(schedule.note)},
          {"violated", schedule.violated},
          {"switches", schedule.switches},
          {"steps", steps}};
}

// Stress mode with faults: the requests of the first violating repetition.
json requests_timeline(const ScenarioResult& r) {
  json requests = json::array();
  for (const RequestRecord& q : r.stress.requests)
    requests.push_back({{"worker", q.worker},
                        {"sql", q.sql},
                        {"started_ms", q.started_ms},
                        {"ended_ms", q.ended_ms},
                        {"status", q.status ? json(std::string(1, q.status)) : json()},
                        {"sqlstate", optional_text(q.sqlstate)},
                        {"fault", fault_json(q.fault)}});
  return {{"kind", "requests"},
          {"title", "requests of repetition " + std::to_string(r.stress.requests_repetition) +
                        ", the first that violated an invariant"},
          {"workers", r.knobs.threads},
          {"requests", requests}};
}

// The timelines to draw, the first shown: an exploration's shrunk
// reproducer and its original schedule, or a stress run's recorded requests.
json timelines_json(const ScenarioResult& r) {
  json timelines = json::array();
  const Exploration& e = r.exploration;
  if (e.reproducer)
    timelines.push_back(schedule_timeline(e.shrinking ? "shrunk reproducer" : "reproducer", *e.reproducer));
  if (e.shrinking)
    timelines.push_back(schedule_timeline("original schedule (before shrinking)", e.shrinking->original));
  if (r.stress.requests_repetition) timelines.push_back(requests_timeline(r));
  return timelines;
}

// Why a scenario has no timeline, and how to get one.
std::string no_timeline_reason(const ScenarioResult& r) {
  if (r.mode == Mode::check) return "A check scenario runs no concurrent work: there is nothing to draw.";
  if (r.mode == Mode::interleave) {
    const std::string what = r.exploration.statement_workers ? "execution" : "schedule";
    return r.verdict == Verdict::held ? "Every " + what + " explored held: there is no violating one to draw."
                                      : "No violating " + what + " was recorded.";
  }
  if (r.knobs.faults.empty())
    return "A stress run without faults connects its workers directly, so pgrace records no per-request history. "
           "For a timeline, run it with a fault rule (e.g. --fault delay_reply:1ms: the workers then go through "
           "pgrace's wire proxy, which records each worker's requests), or explore it: pgrace explore " +
           r.info.name + " --workers 2";
  return r.verdict == Verdict::held ? "No repetition violated an invariant: there is no violating history to draw."
                                    : "No request history was recorded.";
}

json invariants_json(const ScenarioResult& r) {
  json invariants = json::array();
  for (const auto& inv : r.invariants)
    invariants.push_back(
        {{"name", inv.name}, {"held", inv.held}, {"violated_runs", inv.violated_runs}, {"witnesses", inv.witnesses}});
  return invariants;
}

json outcomes_json(const ScenarioResult& r) {
  json outcomes = json::object();
  for (const auto& [kind, n] : r.outcomes) outcomes[to_string(kind)] = n;
  return outcomes;
}

// "schedules" or "repetitions", and how many ran.
json runs_json(const ScenarioResult& r) {
  if (r.mode == Mode::interleave)
    return {{"what", r.exploration.statement_workers ? "executions" : "schedules"},
            {"total", r.exploration.explored},
            {"violating", r.exploration.violating}};
  return {{"what", "repetitions"}, {"total", r.stress.repetitions}, {"violating", r.stress.violating_runs}};
}

json scenario_json(const HtmlSection& section) {
  const ScenarioResult& r = section.result;
  const json timelines = timelines_json(r);
  return {{"name", r.info.name},
          {"description", r.info.description},
          {"mode", to_string(r.mode)},
          {"verdict", to_string(r.verdict)},
          {"matched", r.matched},
          {"expectation", expectation_text(r.info.expectation)},
          {"error", optional_text(r.error)},
          {"runs", runs_json(r)},
          {"invariants", invariants_json(r)},
          {"outcomes", outcomes_json(r)},
          {"sqlstates", r.sqlstates},
          {"summary", summary_text(r)},
          {"replay", section.replay},
          {"timelines", timelines},
          {"no_timeline", timelines.empty() ? json(no_timeline_reason(r)) : json()},
          {"server_log", r.server_log}};
}

// `data` as the content of a <script> element: "<" (the only character
// that can end the element or open a comment there) is written as the JSON
// escape \u003c, which only occurs inside JSON strings; invalid UTF-8
// becomes U+FFFD.
std::string script_safe_json(const json& data) {
  const std::string text = data.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size());
  for (char c : text) out += c == '<' ? std::string("\\u003c") : std::string(1, c);
  return out;
}

}  // namespace

std::string to_html(const std::vector<HtmlSection>& sections, const std::string& title) {
  json scenarios = json::array();
  for (const auto& section : sections) scenarios.push_back(scenario_json(section));
  const json data = {{"title", title}, {"scenarios", scenarios}};
  std::string page = detail::timeline_page();
  const std::string marker = "{{PGRACE_DATA}}";
  page.replace(page.find(marker), marker.size(), script_safe_json(data));
  return page;
}

std::string to_html(const RunReport& report) {
  std::vector<HtmlSection> sections;
  for (const auto& r : report.scenarios) sections.push_back({r, reproducer_command(report, r)});
  return to_html(sections, "pgrace " + report.started_at);
}

}  // namespace pgrace
