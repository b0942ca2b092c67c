#include "pgrace/result.hpp"

namespace pgrace {

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
