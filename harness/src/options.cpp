#include "pgrace/options.hpp"

#include <cerrno>
#include <cstdlib>

#include "pgrace/error.hpp"

namespace pgrace {

Options::Options(const std::vector<std::string>& items) {
  for (const auto& item : items) {
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      throw usage_error("option '" + item + "' is not key=value: write it as -o key=value");
    values_[item.substr(0, eq)] = item.substr(eq + 1);
  }
}

long Options::get_int(const std::string& key, long fallback) {
  read_.insert(key);
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  char* end = nullptr;
  errno = 0;
  long value = std::strtol(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != '\0' || errno == ERANGE)
    throw usage_error("option " + key + "=" + it->second + " is not an integer in range: give a whole number");
  return value;
}

double Options::get_double(const std::string& key, double fallback) {
  read_.insert(key);
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  char* end = nullptr;
  double value = std::strtod(it->second.c_str(), &end);
  if (it->second.empty() || *end != '\0')
    throw usage_error("option " + key + "=" + it->second + " is not a number: give a number");
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
