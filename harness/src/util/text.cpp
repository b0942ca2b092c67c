#include "util/text.hpp"

#include <iomanip>
#include <sstream>

namespace pgrace::detail {

std::string joined(const std::vector<std::string>& words, std::string_view separator) {
  std::string text;
  for (const std::string& word : words) {
    if (!text.empty()) text += separator;
    text += word;
  }
  return text;
}

std::string seconds_text(double seconds) {
  std::ostringstream out;
  if (seconds >= 100)
    out << std::fixed << std::setprecision(0) << seconds;
  else
    out << std::setprecision(3) << seconds;
  return out.str() + " s";
}

}  // namespace pgrace::detail
