#include "pgrace/faults.hpp"

#include <cstdlib>
#include <sstream>
#include <vector>

#include "pgrace/error.hpp"

namespace pgrace {
namespace {

constexpr long kMaxDelayMs = 60'000;
constexpr const char* kForm =
    "give KIND[:TARGET][:PROBABILITY][:DELAYms], e.g. drop_reply:commit, drop_before_send:0.2 or delay_reply:0.5:20ms "
    "(KIND drop_before_send, drop_reply or delay_reply; TARGET any or commit)";

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::istringstream in(text);
  for (std::string part; std::getline(in, part, separator);) parts.push_back(part);
  if (!text.empty() && text.back() == separator) parts.emplace_back();
  return parts;
}

bool parse_kind(const std::string& word, FaultKind& kind) {
  for (FaultKind k : {FaultKind::drop_before_send, FaultKind::drop_reply, FaultKind::delay_reply})
    if (word == to_string(k)) return kind = k, true;
  return false;
}

// A whole-string number, or nothing.
bool parse_number(const std::string& word, double& value) {
  if (word.empty()) return false;
  char* end = nullptr;
  value = std::strtod(word.c_str(), &end);
  return *end == '\0';
}

bool parse_delay(const std::string& word, std::chrono::milliseconds& delay) {
  if (word.size() < 3 || word.compare(word.size() - 2, 2, "ms") != 0) return false;
  const std::string digits = word.substr(0, word.size() - 2);
  if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9) return false;
  delay = std::chrono::milliseconds(std::stol(digits));
  return true;
}

}  // namespace

const char* to_string(FaultKind kind) {
  switch (kind) {
    case FaultKind::drop_before_send:
      return "drop_before_send";
    case FaultKind::drop_reply:
      return "drop_reply";
    case FaultKind::delay_reply:
      return "delay_reply";
  }
  return "unknown";
}

FaultRule parse_fault_rule(const std::string& text) {
  const std::vector<std::string> words = split(text, ':');
  FaultRule rule;
  if (words.empty() || !parse_kind(words[0], rule.kind))
    throw usage_error("--fault '" + text + "': unknown fault kind; " + kForm);
  bool has_target = false, has_probability = false, has_delay = false;
  for (std::size_t i = 1; i < words.size(); ++i) {
    const std::string& word = words[i];
    double number = 0;
    if ((word == "any" || word == "commit") && !has_target) {
      rule.target = word == "any" ? FaultTarget::any : FaultTarget::commit;
      has_target = true;
    } else if (parse_number(word, number) && !has_probability) {
      rule.probability = number;
      has_probability = true;
    } else if (parse_delay(word, rule.delay) && !has_delay) {
      has_delay = true;
    } else {
      throw usage_error("--fault '" + text + "': cannot read '" + word + "' (or it is given twice); " + kForm);
    }
  }
  if (has_delay && rule.kind != FaultKind::delay_reply)
    throw usage_error("--fault '" + text + "': only delay_reply takes a delay");
  validate(rule);
  return rule;
}

void validate(const FaultRule& rule) {
  const std::string name = to_string(rule);
  // Not `!(a && b)` spelt otherwise: NaN fails every comparison and must be rejected too.
  if (!(rule.probability > 0 && rule.probability <= 1))
    throw usage_error("fault " + name + ": the probability must be above 0 and at most 1");
  if (rule.kind == FaultKind::delay_reply && (rule.delay.count() < 1 || rule.delay.count() > kMaxDelayMs))
    throw usage_error("fault " + name + ": delay_reply needs a delay of 1 to 60000 ms, e.g. delay_reply:20ms");
  if (rule.kind != FaultKind::delay_reply && rule.delay.count() != 0)
    throw usage_error("fault " + name + ": only delay_reply takes a delay");
}

std::string to_string(const FaultRule& rule) {
  std::ostringstream out;
  out.precision(15);
  out << to_string(rule.kind) << ':' << (rule.target == FaultTarget::commit ? "commit" : "any") << ':'
      << rule.probability;
  if (rule.kind == FaultKind::delay_reply || rule.delay.count()) out << ':' << rule.delay.count() << "ms";
  return out.str();
}

}  // namespace pgrace
