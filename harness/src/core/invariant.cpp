#include "pgrace/invariant.hpp"

#include <pqxx/pqxx>

#include "core/plan_check.hpp"
#include "pgrace/error.hpp"

namespace pgrace {
namespace {

std::string describe_row(const pqxx::row& row) {
  std::string text = "(";
  for (pqxx::row::size_type i = 0; i < row.size(); ++i) {
    if (i) text += ", ";
    text += std::string(row[i].name()) + "=" + (row[i].is_null() ? "NULL" : row[i].c_str());
  }
  return text + ")";
}

std::vector<std::string> collect_witnesses(const Invariant& invariant, const CheckContext& context,
                                           std::size_t max_witnesses) {
  std::vector<std::string> witnesses;
  if (invariant.kind == InvariantKind::no_rows) {
    pqxx::result rows = context.tx.exec(invariant.sql);
    for (const auto& row : rows) {
      if (witnesses.size() >= max_witnesses) {
        witnesses.push_back("... " + std::to_string(rows.size() - max_witnesses) + " more row(s)");
        break;
      }
      witnesses.push_back(describe_row(row));
    }
  } else if (invariant.kind == InvariantKind::equals) {
    pqxx::result rows = context.tx.exec(invariant.sql);
    std::string actual = rows.empty() ? "no row" : rows[0][0].is_null() ? "NULL" : rows[0][0].c_str();
    if (actual != invariant.expected) witnesses.push_back("expected " + invariant.expected + ", got " + actual);
  } else if (invariant.kind == InvariantKind::uses_index) {
    witnesses = detail::unindexed_scans(context.tx, invariant);
    if (witnesses.size() > max_witnesses) witnesses.resize(max_witnesses);
  } else {
    witnesses = invariant.predicate(context);
    if (witnesses.size() > max_witnesses) witnesses.resize(max_witnesses);
  }
  return witnesses;
}

const char* fix_for(const Invariant& invariant) {
  return invariant.kind == InvariantKind::uses_index ? " (fix its query, table or sample parameters)"
                                                     : " (fix its SQL)";
}

}  // namespace

const char* to_string(InvariantKind kind) {
  switch (kind) {
    case InvariantKind::no_rows:
      return "no_rows";
    case InvariantKind::equals:
      return "equals";
    case InvariantKind::predicate:
      return "predicate";
    case InvariantKind::uses_index:
      return "uses_index";
  }
  return "unknown";
}

Invariant no_rows(std::string name, std::string sql) {
  return Invariant{std::move(name), InvariantKind::no_rows, std::move(sql), "", {}, true};
}

Invariant equals(std::string name, std::string sql, std::string expected) {
  return Invariant{std::move(name), InvariantKind::equals, std::move(sql), std::move(expected), {}, true};
}

Invariant predicate(std::string name, Predicate check, bool during_run) {
  return Invariant{std::move(name), InvariantKind::predicate, "", "", std::move(check), during_run};
}

Invariant uses_index(std::string name, std::string sql, std::string table, std::vector<std::string> params) {
  Invariant invariant{std::move(name), InvariantKind::uses_index, std::move(sql), "", {}, false};
  invariant.table = std::move(table);
  invariant.params = std::move(params);
  return invariant;
}

Invariant no_outcome(std::string name, OutcomeClass kind) {
  return predicate(std::move(name), [kind](const CheckContext& c) -> std::vector<std::string> {
    long n = c.count(kind);
    if (n == 0) return {};
    return {std::to_string(n) + " transaction(s) ended in " + to_string(kind)};
  });
}

std::vector<std::string> check_invariant(const Invariant& invariant, const CheckContext& context,
                                         std::size_t max_witnesses) {
  try {
    return collect_witnesses(invariant, context, max_witnesses);
  } catch (const pqxx::broken_connection& e) {
    // A protocol violation (08P01: a Bind with the wrong number of
    // parameters) arrives as broken_connection on a connection still open:
    // the invariant's fault. Otherwise the server's.
    if (classify(std::current_exception()).kind == OutcomeClass::connection_lost) throw;
    throw usage_error("invariant '" + invariant.name + "' failed to run: " + one_line(e.what()) + fix_for(invariant));
  } catch (const pqxx::sql_error& e) {
    std::string reason = e.what();
    if (auto newline = reason.find('\n'); newline != std::string::npos) reason.resize(newline);
    if (classify_sqlstate(e.sqlstate()) == OutcomeClass::connection_lost)  // e.g. 57P01, backend terminated
      throw pqxx::broken_connection(reason);
    throw usage_error("invariant '" + invariant.name + "' failed to run: " + reason + fix_for(invariant));
  }
}

}  // namespace pgrace
