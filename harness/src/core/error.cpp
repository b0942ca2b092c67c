#include "pgrace/error.hpp"

#include <sstream>

namespace pgrace {
namespace {

std::string trimmed(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\f\v");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t\r\f\v") - first + 1);
}

// PostgreSQL's lines that locate an error rather than describe it.
bool is_position_line(const std::string& line) {
  for (const char* prefix : {"LINE ", "CONTEXT:", "QUERY:", "STATEMENT:", "LOCATION:"})
    if (line.rfind(prefix, 0) == 0) return true;
  return line.find_first_not_of("^ \t") == std::string::npos;  // the caret under LINE n:
}

}  // namespace

std::string one_line(const std::string& message, std::size_t limit) {
  std::string joined;
  std::istringstream lines(message);
  for (std::string line; std::getline(lines, line, '\n');) {
    line = trimmed(line);
    if (line.empty() || (!joined.empty() && is_position_line(line))) continue;
    if (!joined.empty()) joined += line.front() == '(' ? " " : "; ";
    joined += line;
  }
  std::string out;
  for (char c : joined) {
    const bool blank = c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
    if (blank && !out.empty() && out.back() == ' ') continue;
    out += blank ? ' ' : c;
  }
  if (!out.empty() && out.back() == ' ') out.pop_back();
  if (out.size() > limit) out = out.substr(0, limit) + "...";
  return out;
}

}  // namespace pgrace
