#pragma once
// Small text helpers that pgrace's messages share, so that one number or
// duration reads the same wherever it is printed. Internal to pgrace; may be
// included from every folder of harness/.

#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace pgrace::detail {

// `words` joined by `separator`: joined({"a", "b"}, ", ") is "a, b".
std::string joined(const std::vector<std::string>& words, std::string_view separator = ", ");

// `value` as a stream prints it: integers exactly, floating-point numbers
// with up to 12 significant digits ("0.5", "2592000", "1e-05").
template <typename T>
std::string number_text(T value) {
  std::ostringstream out;
  out.precision(12);
  out << value;
  return out.str();
}

// A duration in seconds for a message: 3 significant digits below 100 s,
// whole seconds from there: "0.1 s", "2.03 s", "12.3 s", "86400 s".
std::string seconds_text(double seconds);

}  // namespace pgrace::detail
