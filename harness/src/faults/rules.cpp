#include "faults/rules.hpp"
#include "util/hash.hpp"

#include <algorithm>
#include <cctype>

namespace pgrace::detail {
namespace {

bool is_identifier_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$'; }

// The tag of a dollar quote opening at sql[i] ("$$" or "$name$"), or "" if none does.
std::string dollar_tag(const std::string& sql, std::size_t i) {
  if (sql[i] != '$' || (i > 0 && is_identifier_char(sql[i - 1]))) return "";
  std::size_t k = i + 1;
  if (k < sql.size() && std::isdigit(static_cast<unsigned char>(sql[k]))) return "";  // $1: a parameter
  while (k < sql.size() && sql[k] != '$' && is_identifier_char(sql[k])) ++k;
  return k < sql.size() && sql[k] == '$' ? sql.substr(i, k + 1 - i) : "";
}

// Where the comment, quoted string, quoted identifier or dollar-quoted
// string that starts at sql[i] ends (the index after it; sql.size() if it
// does not), or i if none starts there.
std::size_t skip_quoted(const std::string& sql, std::size_t i) {
  const auto at = [&sql](std::size_t k) { return k < sql.size() ? sql[k] : '\0'; };
  if (at(i) == '-' && at(i + 1) == '-') return std::min(sql.find('\n', i), sql.size());
  if (at(i) == '/' && at(i + 1) == '*') {  // block comments nest
    int depth = 0;
    for (std::size_t k = i; k + 1 < sql.size(); ++k) {
      if (sql[k] == '/' && sql[k + 1] == '*') {
        ++depth, ++k;
      } else if (sql[k] == '*' && sql[k + 1] == '/') {
        if (--depth == 0) return k + 2;
        ++k;
      }
    }
    return sql.size();
  }
  if (at(i) == '\'' || at(i) == '"') {
    // E'...' takes backslash escapes; a doubled quote is the quote itself.
    const bool escapes = at(i) == '\'' && i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e') &&
                         (i < 2 || !is_identifier_char(sql[i - 2]));
    for (std::size_t k = i + 1; k < sql.size(); ++k) {
      if (escapes && sql[k] == '\\')
        ++k;
      else if (sql[k] == sql[i] && at(k + 1) == sql[i])
        ++k;
      else if (sql[k] == sql[i])
        return k + 1;
    }
    return sql.size();
  }
  if (const std::string tag = dollar_tag(sql, i); !tag.empty()) {
    const std::size_t close = sql.find(tag, i + tag.size());
    return close == std::string::npos ? sql.size() : close + tag.size();
  }
  return i;
}

// The statements of `sql`, split at each ';' outside comments, quoted
// strings, quoted identifiers and dollar-quoted strings, with each comment
// replaced by a blank.
std::vector<std::string> statements_of(const std::string& sql) {
  std::vector<std::string> statements{""};
  for (std::size_t i = 0; i < sql.size();) {
    const std::size_t end = skip_quoted(sql, i);
    if (end != i) {
      const bool comment = sql[i] == '-' || sql[i] == '/';
      statements.back() += comment ? std::string(" ") : sql.substr(i, end - i);
      i = end;
    } else if (sql[i] == ';') {
      statements.emplace_back();
      ++i;
    } else {
      statements.back() += sql[i++];
    }
  }
  return statements;
}

// The upper-cased words of `statement` up to the first character that is
// neither a letter nor a blank ("" after it marks that anything followed).
std::vector<std::string> leading_words(const std::string& statement) {
  std::vector<std::string> words{""};
  for (char c : statement) {
    if (std::isalpha(static_cast<unsigned char>(c))) {
      words.back() += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      if (!words.back().empty()) words.emplace_back();
    } else {
      if (!words.back().empty()) words.emplace_back();
      words.back() = "?";  // something else follows
      return words;
    }
  }
  if (words.back().empty()) words.pop_back();
  return words;
}

// COMMIT or END, alone or with its own options (see is_commit()).
bool is_commit_statement(const std::string& statement) {
  const auto words = leading_words(statement);
  if (words.empty() || (words[0] != "COMMIT" && words[0] != "END")) return false;
  if (words.size() == 1) return true;
  const std::string& next = words[1];
  return next == "WORK" || next == "TRANSACTION" || next == "AND" || (next == "PREPARED" && words[0] == "COMMIT");
}

// The last statement's first word ("" if it has none).
std::string last_keyword(const std::string& sql) {
  const auto statements = statements_of(sql);
  for (auto it = statements.rbegin(); it != statements.rend(); ++it)
    if (const auto words = leading_words(*it); !words.empty()) return words[0];
  return "";
}

// A number in [0, 1) that depends only on the seed, the rule and the place.
double draw(std::uint64_t seed, std::size_t rule, const FaultPlace& place) {
  std::uint64_t h = splitmix64(seed);
  for (std::uint64_t part : {static_cast<std::uint64_t>(rule), static_cast<std::uint64_t>(place.worker),
                             static_cast<std::uint64_t>(place.iteration), static_cast<std::uint64_t>(place.rank),
                             static_cast<std::uint64_t>(place.repetition)})
    h = splitmix64(h ^ part);
  return static_cast<double>(h >> 11) * 0x1.0p-53;
}

}  // namespace

bool is_commit(const std::string& sql) {
  const auto statements = statements_of(sql);
  return std::any_of(statements.begin(), statements.end(), is_commit_statement);
}

bool is_rollback(const std::string& sql) {
  const auto statements = statements_of(sql);
  return std::any_of(statements.begin(), statements.end(), [](const std::string& statement) {
    const auto words = leading_words(statement);
    if (words.empty() || (words[0] != "ROLLBACK" && words[0] != "ABORT")) return false;
    return words.size() == 1 || words[1] == "WORK" || words[1] == "TRANSACTION" || words[1] == "AND";
  });
}

bool targets(const FaultRule& rule, const WireRequest& request) {
  return request.executes && (rule.target == FaultTarget::any || is_commit(request.sql));
}

std::optional<FaultRule> draw_fault(const std::vector<FaultRule>& rules, std::uint64_t seed, const FaultPlace& place,
                                    const WireRequest& request) {
  for (std::size_t i = 0; i < rules.size(); ++i)
    if (targets(rules[i], request) && draw(seed, i, place) < rules[i].probability) return rules[i];
  return std::nullopt;
}

Fault fault_of(const FaultRule& rule) {
  return {rule.kind, rule.kind == FaultKind::delay_reply ? rule.delay : std::chrono::milliseconds(0)};
}

Outcome dropped_outcome(const WireRequest& lost) {
  const std::string last = last_keyword(lost.sql);
  // A COMMIT that ran committed (or, in a failed transaction, rolled back)
  // whatever the status after it: COMMIT AND CHAIN, or "COMMIT; BEGIN", leave 'T'.
  const bool ended_idle = lost.status == 'I' && last != "ROLLBACK" && last != "ABORT";
  // A COMMIT sent may have committed even if its connection ended before any reply came.
  const bool may_have_committed =
      lost.fault == FaultKind::drop_reply && (is_commit(lost.sql) || (lost.completed && ended_idle));
  if (may_have_committed)
    return {OutcomeClass::indeterminate, "08006",
            "pgrace dropped the connection before the reply to '" + lost.sql +
                "' reached the client: it may have committed"};
  return {OutcomeClass::connection_dropped, "08006",
          "pgrace dropped the connection " +
              std::string(lost.fault == FaultKind::drop_before_send ? "before sending '" : "after '") + lost.sql +
              "': the transaction did not commit"};
}

}  // namespace pgrace::detail
