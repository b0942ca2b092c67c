#include "pgrace/options.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>

#include "pgrace/error.hpp"
#include "util/text.hpp"

namespace pgrace {
namespace {

using detail::number_text;

// "from 0 to 100", "of at least 1", or "" when any value is accepted.
template <typename T>
std::string range_text(T min, T max) {
  const bool low = min != std::numeric_limits<T>::lowest(), high = max != std::numeric_limits<T>::max();
  if (low && high) return " from " + number_text(min) + " to " + number_text(max);
  if (low) return " of at least " + number_text(min);
  if (high) return " of at most " + number_text(max);
  return "";
}

}  // namespace

Options::Options(const std::vector<std::string>& items) {
  for (const auto& item : items) {
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      throw usage_error("option '" + item + "' is not key=value: write it as -o key=value");
    values_[item.substr(0, eq)] = item.substr(eq + 1);
  }
}

long Options::get_int(const std::string& key, long fallback, long min, long max) {
  read_.insert(key);
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  char* end = nullptr;
  errno = 0;
  long value = std::strtol(it->second.c_str(), &end, 10);
  const bool number = !it->second.empty() && *end == '\0';
  if (!number || errno == ERANGE || value < min || value > max)
    throw usage_error("option " + key + "=" + it->second + (number ? " is out of range" : " is not a whole number") +
                      ": give a whole number" + range_text(min, max));
  return value;
}

double Options::get_double(const std::string& key, double fallback, double min, double max) {
  read_.insert(key);
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  char* end = nullptr;
  double value = std::strtod(it->second.c_str(), &end);
  const bool number = !it->second.empty() && *end == '\0' && std::isfinite(value);
  if (!number || value < min || value > max)
    throw usage_error("option " + key + "=" + it->second + (number ? " is out of range" : " is not a finite number") +
                      ": give a number" + range_text(min, max));
  return value;
}

std::string Options::get_string(const std::string& key, const std::string& fallback) {
  read_.insert(key);
  auto it = values_.find(key);
  return it == values_.end() ? fallback : it->second;
}

std::vector<std::string> Options::unread() const {
  std::vector<std::string> keys;
  for (const auto& [key, value] : values_)
    if (!read_.count(key)) keys.push_back(key);
  return keys;
}

}  // namespace pgrace
