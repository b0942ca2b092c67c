#include "pgrace/result.hpp"

#include <algorithm>

namespace pgrace {

bool meets_explored_expectation(const std::set<std::string>& violated, const std::set<std::string>& expected) {
  const auto is_expected = [&expected](const std::string& name) { return expected.count(name) > 0; };
  if (expected.empty()) return violated.empty();
  return std::any_of(violated.begin(), violated.end(), is_expected) &&
         std::all_of(violated.begin(), violated.end(), is_expected);
}

std::vector<std::string> unbroken_expected(const ScenarioResult& result) {
  std::vector<std::string> names;
  for (const auto& invariant : result.invariants)
    if (invariant.held && result.info.expectation.violated.count(invariant.name)) names.push_back(invariant.name);
  return names;
}

const char* to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::held:
      return "held";
    case Verdict::violated:
      return "violated";
    case Verdict::error:
      return "error";
  }
  return "unknown";
}

const char* to_string(Mode mode) {
  switch (mode) {
    case Mode::stress:
      return "stress";
    case Mode::interleave:
      return "interleave";
    case Mode::check:
      return "check";
  }
  return "unknown";
}

const char* to_string(StepOutcome outcome) {
  switch (outcome) {
    case StepOutcome::ok:
      return "ok";
    case StepOutcome::error:
      return "error";
    case StepOutcome::cancelled:
      return "cancelled";
    case StepOutcome::not_run:
      return "not_run";
  }
  return "unknown";
}

}  // namespace pgrace
