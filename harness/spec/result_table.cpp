// Result sets as the isolationtester prints them: libpq's PQprint() with
// align, header and fieldSep "|" (the rules of fe-print.c, rewritten).

#include <algorithm>
#include <stdexcept>

#include "spec/transcript.hpp"

namespace pgrace::spec {
namespace {

// PQprint's test: only digits, '.', 'E', 'e', ' ' and '-', not starting with
// an E and ending with a digit.
bool looks_numeric(const std::string& value) {
  const bool allowed = std::all_of(value.begin(), value.end(), [](char c) {
    return (c >= '0' && c <= '9') || c == '.' || c == 'E' || c == 'e' || c == ' ' || c == '-';
  });
  return allowed && value.front() != 'E' && value.front() != 'e' && value.back() >= '0' && value.back() <= '9';
}

struct Column {
  std::size_t width = 0;
  bool numeric = true;  // right-aligned
};

std::vector<Column> measure(const ResultSet& result) {
  std::vector<Column> columns;
  for (const std::string& name : result.columns) columns.push_back({name.size(), true});
  for (const auto& row : result.rows) {
    if (row.size() != columns.size()) throw std::logic_error("result set: a row's width differs from its header's");
    for (std::size_t j = 0; j < row.size(); ++j) {
      if (row[j].empty()) continue;  // NULL and '' neither widen nor decide alignment
      columns[j].width = std::max(columns[j].width, row[j].size());
      columns[j].numeric = columns[j].numeric && looks_numeric(row[j]);
    }
  }
  return columns;
}

std::string line(const std::vector<std::string>& values, const std::vector<Column>& columns) {
  std::string text;
  for (std::size_t j = 0; j < values.size(); ++j) {
    if (j > 0) text += '|';
    const std::string padding(columns[j].width - values[j].size(), ' ');
    text += columns[j].numeric ? padding + values[j] : values[j] + padding;
  }
  return text + "\n";
}

}  // namespace

std::string format_result_set(const ResultSet& result) {
  if (result.columns.empty()) return "";
  const std::vector<Column> columns = measure(result);
  std::string text = line(result.columns, columns);
  for (std::size_t j = 0; j < columns.size(); ++j) text += (j > 0 ? "+" : "") + std::string(columns[j].width, '-');
  text += "\n";
  for (const auto& row : result.rows) text += line(row, columns);
  const std::size_t n = result.rows.size();
  return text + "(" + std::to_string(n) + (n == 1 ? " row" : " rows") + ")\n\n";
}

}  // namespace pgrace::spec
