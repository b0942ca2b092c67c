#include "plan_check.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <set>
#include <stdexcept>
#include <utility>

#include "pgrace/error.hpp"
#include "pqxx_compat.hpp"

namespace pgrace::detail {
namespace {

using nlohmann::json;
using QualifiedName = std::pair<std::string, std::string>;  // schema, relation

// The table and every table that inherits from it (its partitions too).
std::set<QualifiedName> tables_of(pqxx::transaction_base& tx, const Invariant& invariant) {
  const pqxx::result exists = exec_params(tx, "SELECT to_regclass($1) IS NOT NULL", {invariant.table});
  if (!exists[0][0].as<bool>())
    throw usage_error("invariant '" + invariant.name + "' names table '" + invariant.table +
                      "', which does not exist (fix the table argument of uses_index())");
  const pqxx::result rows = exec_params(
      tx,
      "WITH RECURSIVE tree(oid) AS (SELECT $1::regclass::oid UNION "
      "SELECT i.inhrelid FROM pg_inherits i JOIN tree t ON i.inhparent = t.oid) "
      "SELECT n.nspname, c.relname FROM tree t JOIN pg_class c ON c.oid = t.oid "
      "JOIN pg_namespace n ON n.oid = c.relnamespace",
      {invariant.table});
  std::set<QualifiedName> tables;
  for (const auto& row : rows) tables.insert({row[0].c_str(), row[1].c_str()});
  return tables;
}

// The plan of the invariant's query with plan_settings() in force.
json plan_of(pqxx::transaction_base& tx, const Invariant& invariant) {
  for (const auto& setting : plan_settings()) tx.exec("SET LOCAL " + setting);
  const pqxx::result rows = exec_params(tx, "EXPLAIN (FORMAT JSON, VERBOSE) " + invariant.sql, invariant.params);
  return json::parse(rows[0][0].c_str()).at(0).at("Plan");
}

std::string text_of(const json& node, const char* key) { return node.contains(key) ? node[key].get<std::string>() : ""; }

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

// Whether every Bitmap Index Scan below `node` (through BitmapAnd and
// BitmapOr) has an index condition.
bool bitmaps_have_conditions(const json& node) {
  if (text_of(node, "Node Type") == "Bitmap Index Scan" && !node.contains("Index Cond")) return false;
  if (node.contains("Plans"))
    for (const auto& child : node["Plans"])
      if (!bitmaps_have_conditions(child)) return false;
  return true;
}

// Why a scan does not use an index to find its rows, or "" when it does.
std::string unindexed_reason(const json& node) {
  const std::string type = text_of(node, "Node Type");
  if (type == "Tid Scan") return "";
  if (type == "Bitmap Heap Scan")
    return bitmaps_have_conditions(node) ? "" : "has a bitmap index scan with no index condition: it reads the whole index";
  if (type == "Index Scan" || type == "Index Only Scan")
    return node.contains("Index Cond") ? "" : "has no index condition: it reads the whole index";
  if (type == "Seq Scan") return "no index can serve it, even with enable_seqscan = off";
  return "reads the table without an index";
}

struct Walk {
  const std::set<QualifiedName>& tables;
  int scans = 0;
  std::vector<std::string> witnesses{};

  void visit(const json& node, const std::string& path) {
    const std::string here = path.empty() ? label(node) : path + " > " + label(node);
    const std::string type = text_of(node, "Node Type");
    const bool is_scan = type.size() >= 4 && type.compare(type.size() - 4, 4, "Scan") == 0;
    if (is_scan && node.contains("Relation Name") &&
        tables.count({text_of(node, "Schema"), text_of(node, "Relation Name")})) {
      ++scans;
      if (const std::string reason = unindexed_reason(node); !reason.empty()) {
        const std::string filter = text_of(node, "Filter");
        witnesses.push_back(here + (filter.empty() ? "" : " (Filter: " + filter + ")") + ": " + reason);
      }
    }
    if (node.contains("Plans"))
      for (const auto& child : node["Plans"]) visit(child, here);
  }
};

}  // namespace

std::vector<std::string> unindexed_scans(pqxx::transaction_base& tx, const Invariant& invariant) {
  auto* outer = dynamic_cast<pqxx::dbtransaction*>(&tx);
  if (!outer) throw std::logic_error("uses_index() is checked in a transaction, after the run");
  pqxx::subtransaction planning(*outer, "pgrace_plan_check");
  const std::set<QualifiedName> tables = tables_of(planning, invariant);
  Walk walk{tables};
  walk.visit(plan_of(planning, invariant), "");
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
                                                    "enable_indexonlyscan = on", "enable_bitmapscan = on",
                                                    "jit = off"};
  return settings;
}

}  // namespace pgrace
