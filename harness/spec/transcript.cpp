#include "spec/transcript.hpp"

#include <stdexcept>

namespace pgrace::spec {
namespace {

std::string render_results(const std::vector<StepResult>& results) {
  std::string text;
  for (const StepResult& result : results) {
    if (const auto* rows = std::get_if<ResultSet>(&result)) {
      text += format_result_set(*rows);
    } else {
      const auto& error = std::get<SqlError>(result);
      text += error.severity.empty() ? error.message + "\n" : error.severity + ":  " + error.message + "\n";
    }
  }
  return text;
}

}  // namespace

Transcript::Transcript(const Spec& spec) {
  for (const Session& session : spec.sessions) {
    for (const Step& step : session.steps) sql_.emplace(step.name, step.sql);
  }
  for (const std::string& name : unused_steps(spec)) text_ += "unused step name: " + name + "\n";
  text_ += "Parsed test spec with " + std::to_string(spec.sessions.size()) + " sessions\n";
}

std::string Transcript::record(const Event& event) {
  const std::string piece = std::visit([this](const auto& e) { return render(e); }, event);
  text_ += piece;
  return piece;
}

const std::string& Transcript::sql_of(const std::string& step) const {
  const auto it = sql_.find(step);
  if (it == sql_.end()) throw std::logic_error("transcript: the spec has no step \"" + step + "\"");
  return it->second;
}

std::string Transcript::render(const event::PermutationStarted& started) {
  if (!waiting_.empty()) throw std::logic_error("transcript: a permutation started while a step still waits");
  std::string text = "\nstarting permutation:";
  for (const std::string& step : started.steps) text += " " + step;
  return text + "\n";
}

std::string Transcript::render(const event::StepWaiting& waiting) {
  const std::string& sql = sql_of(waiting.step);
  if (!waiting_.insert(waiting.step).second) {
    throw std::logic_error("transcript: step \"" + waiting.step + "\" reported waiting twice");
  }
  return "step " + waiting.step + ": " + sql + " <waiting ...>\n";
}

std::string Transcript::render(const event::StepCompleted& completed) {
  const std::string& sql = sql_of(completed.step);
  const bool waited = waiting_.erase(completed.step) > 0;
  const std::string line = "step " + completed.step + ": " + (waited ? "<... completed>" : sql) + "\n";
  return line + render_results(completed.results);
}

std::string Transcript::render(const event::StepOutput& output) { return render_results(output.results); }

std::string Transcript::render(const event::StepCanceled& canceled) {
  sql_of(canceled.step);
  return "isolationtester: canceling step " + canceled.step + " after " + std::to_string(canceled.seconds) +
         " seconds\n";
}

std::string Transcript::render(const event::Notify& notify) {
  return notify.session + ": NOTIFY \"" + notify.channel + "\" with payload \"" + notify.payload + "\" from " +
         notify.sender + "\n";
}

std::string Transcript::render(const event::MutuallyBlocked&) {
  return "failed to complete permutation due to mutually-blocking steps\n";
}

std::string Transcript::render(const event::SessionStuck& stuck) {
  sql_of(stuck.step);
  std::string text = "step " + stuck.step + " timed out after " + std::to_string(stuck.seconds) + " seconds\n";
  text += "active steps are:";
  for (const std::string& step : stuck.active) text += " " + step;
  return text + "\n";
}

std::string Transcript::render(const event::SendFailed& failed) {
  sql_of(failed.step);
  return "failed to send query for step " + failed.step + ": " + failed.message + "\n";
}

std::string Transcript::render(const event::InputFailed& failed) {
  return "PQconsumeInput failed: " + failed.message + "\n";
}

std::string Transcript::render(const event::Notice& notice) { return notice.session + ": " + notice.text; }

std::string Transcript::render(const event::BlockRows& rows) { return format_result_set(rows.rows); }

std::string Transcript::render(const event::BlockFailed& failed) {
  switch (failed.block) {
    case Block::setup:
      return "setup failed: " + failed.message;
    case Block::session_setup:
      return "setup of session " + failed.session + " failed: " + failed.message;
    case Block::session_teardown:
      return "teardown of session " + failed.session + " failed: " + failed.message;
    case Block::teardown:
      return "teardown failed: " + failed.message;
  }
  throw std::logic_error("transcript: unknown block");
}

}  // namespace pgrace::spec
