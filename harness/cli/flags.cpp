#include "flags.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <iomanip>
#include <sstream>
#include <stdexcept>

#include "pgrace/error.hpp"

namespace pgrace::cli {
namespace {

const Flag kFlags[] = {
    {"threads", "--threads", limits::threads},
    {"iterations", "--iterations", limits::iterations},
    {"duration_s", "--duration", limits::duration_s},
    {"retries", "--retries", limits::retries},
    {"repeat", "--repeat", limits::repeat},
    {"pool_size", "--pool-size", limits::pool_size},
    {"pool_timeout", "--pool-timeout", limits::pool_timeout_ms},
    {"statement_workers", "--workers", limits::statement_workers},
    {"max_switches", "--max-switches", limits::max_switches},
    {"draws", "--draws", limits::draws},
    {"draw", "--draw", limits::draw},
    {"max_schedules", "--max-schedules", limits::max_schedules},
    {"budget_s", "--budget", limits::budget_s},
    {"step_timeout", "--step-timeout", limits::step_timeout_ms},
    {"timeout_s", "--timeout", limits::timeout_s},
    {"statement_timeout_s", "--statement-timeout", limits::statement_timeout_s},
    {"isolation", "--isolation", {}},
    {"sync", "--sync", {}},
    {"seed", "--seed", {}},
    {"faults", "--fault", {}},
    {"schedules", "--schedule", {}},
    {"shard", "--shard", {}},
};

bool digits(const std::string& text) {
  return !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
}

std::string number(double value) {
  std::ostringstream out;
  out << std::setprecision(12) << value;
  return out.str();
}

}  // namespace

const Flag& flag_for(const std::string& setting) {
  for (const Flag& flag : kFlags)
    if (setting == flag.setting) return flag;
  throw std::logic_error("no flag for setting " + setting);
}

std::uint64_t parse_whole(const std::string& flag, const std::string& text, WholeRange range) {
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  if (!digits(text) || std::from_chars(text.data(), end, value).ptr != end || value < range.min || value > range.max)
    throw usage_error(flag + " must be a whole number from " + std::to_string(range.min) + " to " +
                      std::to_string(range.max) + ", got '" + text + "'");
  return value;
}

double parse_seconds(const std::string& flag, const std::string& text, SecondsRange range) {
  const auto dot = text.find('.');
  const bool plain =
      dot == std::string::npos ? digits(text) : digits(text.substr(0, dot)) && digits(text.substr(dot + 1));
  const double value = plain ? std::strtod(text.c_str(), nullptr) : NAN;
  if (!(value >= range.min && value <= range.max) && !(range.zero && value == 0))
    throw usage_error(flag + " must be " + (range.zero ? "0 or " : "") + "seconds from " + number(range.min) + " to " +
                      number(range.max) + " (digits, with at most one '.'), got '" + text + "'");
  return value;
}

}  // namespace pgrace::cli
