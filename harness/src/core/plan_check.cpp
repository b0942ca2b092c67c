#include "core/plan_check.hpp"

#include <cctype>
#include <map>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <set>
#include <stdexcept>
#include <utility>

#include "core/pqxx_compat.hpp"
#include "pgrace/error.hpp"

namespace pgrace::detail {
namespace {

using nlohmann::json;
using QualifiedName = std::pair<std::string, std::string>;  // schema, relation

// The table and every table that inherits from it (its partitions too):
// their names, and their oids as an array literal.
struct Tables {
  std::set<QualifiedName> names;
  std::string oids = "{";
};

Tables tables_of(pqxx::transaction_base& tx, const Invariant& invariant) {
  const pqxx::result exists = exec_params(tx, "SELECT to_regclass($1) IS NOT NULL", {invariant.table});
  if (!exists[0][0].as<bool>())
    throw usage_error("invariant '" + invariant.name + "' names table '" + invariant.table +
                      "', which does not exist (fix the table argument of uses_index(); quote a mixed-case name, "
                      "e.g. \"\\\"Orders\\\"\")");
  const pqxx::result rows =
      exec_params(tx,
                  "WITH RECURSIVE tree(oid) AS (SELECT $1::regclass::oid UNION "
                  "SELECT i.inhrelid FROM pg_inherits i JOIN tree t ON i.inhparent = t.oid) "
                  "SELECT n.nspname, c.relname, c.oid FROM tree t JOIN pg_class c ON c.oid = t.oid "
                  "JOIN pg_namespace n ON n.oid = c.relnamespace",
                  {invariant.table});
  Tables tables;
  for (const auto& row : rows) {
    tables.names.insert({row[0].c_str(), row[1].c_str()});
    tables.oids += (tables.oids.size() > 1 ? "," : "") + std::string(row[2].c_str());
  }
  tables.oids += "}";
  return tables;
}

// What the check needs to know of an index of the table.
struct IndexFacts {
  bool btree = false;
  bool partial = false;        // it has a WHERE predicate
  std::string leading_column;  // "" when its first key is an expression
};

std::map<std::string, IndexFacts> indexes_of(pqxx::transaction_base& tx, const Tables& tables) {
  const pqxx::result rows =
      exec_params(tx,
                  "SELECT c.relname, am.amname = 'btree', i.indpred IS NOT NULL, coalesce(a.attname, '') "
                  "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam "
                  "LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] AND i.indkey[0] <> 0 "
                  "WHERE i.indrelid = ANY($1::oid[])",
                  {tables.oids});
  std::map<std::string, IndexFacts> indexes;
  for (const auto& row : rows) indexes[row[0].c_str()] = {row[1].as<bool>(), row[2].as<bool>(), row[3].c_str()};
  return indexes;
}

// The plan of the invariant's query with plan_settings() in force.
json plan_of(pqxx::transaction_base& tx, const Invariant& invariant) {
  for (const auto& setting : plan_settings()) tx.exec("SET LOCAL " + setting);
  const pqxx::result rows = exec_params(tx, "EXPLAIN (FORMAT JSON, VERBOSE) " + invariant.sql, invariant.params);
  return json::parse(rows[0][0].c_str()).at(0).at("Plan");
}

std::string text_of(const json& node, const char* key) {
  return node.contains(key) ? node[key].get<std::string>() : "";
}

// "Index Scan using orders_pkey on public.orders o": how EXPLAIN names a node.
std::string label(const json& node) {
  std::string text = text_of(node, "Node Type");
  if (node.contains("Index Name")) text += " using " + text_of(node, "Index Name");
  if (node.contains("Relation Name")) {
    const std::string relation = text_of(node, "Relation Name");
    text += " on " + (node.contains("Schema") ? text_of(node, "Schema") + "." : "") + relation;
    if (const std::string alias = text_of(node, "Alias"); !alias.empty() && alias != relation) text += " " + alias;
  }
  return text;
}

// Whether `condition` (an Index Cond as EXPLAIN prints it) names `column`:
// an identifier outside string literals, quoted or not.
bool mentions(const std::string& condition, const std::string& column) {
  std::string word;
  bool in_literal = false, in_quotes = false;
  for (char c : condition + " ") {
    if (in_literal) {
      in_literal = c != '\'';
    } else if (c == '"') {
      in_quotes = !in_quotes;
    } else if (in_quotes || std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$') {
      word += c;
      continue;
    } else if (c == '\'') {
      in_literal = true;
    }
    if (word == column) return true;
    word.clear();
  }
  return false;
}

class Verdicts {
 public:
  explicit Verdicts(std::map<std::string, IndexFacts> indexes) : indexes_(std::move(indexes)) {}

  // Why a scan of the table does not find its rows through an index, or ""
  // when it does. `under_limit`: its rows stream to a Limit, which stops it.
  std::string problem(const json& node, bool under_limit) const {
    const std::string type = text_of(node, "Node Type");
    if (type == "Tid Scan") return "";
    if (type == "Index Scan" || type == "Index Only Scan") return index_problem(node, under_limit);
    if (type == "Bitmap Heap Scan") return bitmap_problem(node);
    if (type == "Seq Scan") return "no index can serve it, even with enable_seqscan = off";
    return "reads the table without an index";
  }

 private:
  // A partial index holds only the rows its predicate selects (the planner
  // uses one only when the query implies it); any other index must be
  // searched by a condition on its leading column (a btree's order), unless
  // the scan stops after a Limit's few rows.
  std::string index_problem(const json& node, bool under_limit) const {
    const auto facts = indexes_.find(text_of(node, "Index Name"));
    if (facts != indexes_.end() && facts->second.partial) return "";
    if (!node.contains("Index Cond")) {
      if (under_limit && !node.contains("Filter")) return "";
      return "has no index condition: it reads the whole index";
    }
    if (facts == indexes_.end() || !facts->second.btree || facts->second.leading_column.empty()) return "";
    if (mentions(text_of(node, "Index Cond"), facts->second.leading_column)) return "";
    return "its index condition leaves out the index's leading column " + facts->second.leading_column +
           ": it reads the whole index";
  }

  std::string bitmap_problem(const json& node) const {
    if (node.contains("Plans"))
      for (const auto& child : node["Plans"]) {
        const std::string type = text_of(child, "Node Type");
        if (type != "Bitmap Index Scan" && type != "BitmapAnd" && type != "BitmapOr") continue;
        if (std::string problem = type == "Bitmap Index Scan" ? index_problem(child, false) : bitmap_problem(child);
            !problem.empty())
          return "a bitmap index scan using " + text_of(child, "Index Name") + " " + problem;
      }
    return "";
  }

  std::map<std::string, IndexFacts> indexes_;
};

// Nodes through which a Limit above still stops the scan below early.
bool streams(const std::string& type) {
  static const std::set<std::string> streaming = {"Limit",  "Result",       "LockRows", "Subquery Scan", "Unique",
                                                  "Append", "Merge Append", "Gather",   "Gather Merge"};
  return streaming.count(type) > 0;
}

struct Walk {
  const std::set<QualifiedName>& tables;
  const Verdicts& verdicts;
  int scans = 0;
  std::vector<std::string> witnesses{};

  void visit(const json& node, const std::string& path, bool under_limit) {
    const std::string here = path.empty() ? label(node) : path + " > " + label(node);
    const std::string type = text_of(node, "Node Type");
    const bool is_scan = type.size() >= 4 && type.compare(type.size() - 4, 4, "Scan") == 0;
    if (is_scan && node.contains("Relation Name") &&
        tables.count({text_of(node, "Schema"), text_of(node, "Relation Name")})) {
      ++scans;
      if (const std::string problem = verdicts.problem(node, under_limit); !problem.empty()) {
        const std::string filter = text_of(node, "Filter");
        witnesses.push_back(here + (filter.empty() ? "" : " (Filter: " + filter + ")") + ": " + problem);
      }
    }
    under_limit = type == "Limit" || (under_limit && streams(type));
    if (node.contains("Plans"))
      for (const auto& child : node["Plans"]) visit(child, here, under_limit);
  }
};

}  // namespace

std::vector<std::string> unindexed_scans(pqxx::transaction_base& tx, const Invariant& invariant) {
  auto* outer = dynamic_cast<pqxx::dbtransaction*>(&tx);
  if (!outer) throw std::logic_error("uses_index() is checked in a transaction, after the run");
  pqxx::subtransaction planning(*outer, "pgrace_plan_check");
  const Tables tables = tables_of(planning, invariant);
  const Verdicts verdicts(indexes_of(planning, tables));
  Walk walk{tables.names, verdicts};
  walk.visit(plan_of(planning, invariant), "", false);
  planning.abort();  // the settings end with it
  if (walk.scans == 0)
    throw usage_error("invariant '" + invariant.name + "': the plan of its query never reads table '" +
                      invariant.table + "' (fix the table or the query of uses_index())");
  return walk.witnesses;
}

}  // namespace pgrace::detail

namespace pgrace {

const std::vector<std::string>& plan_settings() {
  static const std::vector<std::string> settings = {"enable_seqscan = off", "enable_indexscan = on",
                                                    "enable_indexonlyscan = on", "enable_bitmapscan = on", "jit = off"};
  return settings;
}

}  // namespace pgrace
