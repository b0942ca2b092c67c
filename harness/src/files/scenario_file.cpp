#include "files/scenario_file.hpp"

#include <toml++/toml.h>
#include <fstream>
#include <set>
#include <sstream>

#include "pgrace/error.hpp"

namespace pgrace::files {
namespace {

namespace fs = std::filesystem;

// Reads one table of the file, remembering which keys it was asked for, so
// that a key nobody read (a typo) is an error, as unread options are.
class TableReader {
 public:
  TableReader(const fs::path& file, const toml::table& table, std::string prefix)
      : file_(file), table_(table), prefix_(std::move(prefix)) {}

  [[noreturn]] void fail(const std::string& key, const std::string& problem) const {
    throw usage_error(file_.string() + ": key '" + prefix_ + key + "' " + problem);
  }

  const toml::node* node(const std::string& key) {
    known_.insert(key);
    return table_.get(key);
  }

  std::optional<std::string> string(const std::string& key, const char* example) {
    const toml::node* n = node(key);
    if (!n) return std::nullopt;
    if (!n->is_string()) fail(key, "must be a string, e.g. " + std::string(example));
    return n->as_string()->get();
  }

  std::string required_string(const std::string& key, const char* example) {
    auto value = string(key, example);
    if (!value || value->empty()) fail(key, "is required: add " + std::string(example));
    return *value;
  }

  std::optional<long> integer(const std::string& key, long min, long max, const char* example) {
    const toml::node* n = node(key);
    if (!n) return std::nullopt;
    if (!n->is_integer() || n->as_integer()->get() < min || n->as_integer()->get() > max)
      fail(key, "must be an integer from " + std::to_string(min) + " to " + std::to_string(max) + ", e.g. " + example);
    return n->as_integer()->get();
  }

  // An array of strings (a command's argv, file names); nullopt when absent.
  std::optional<std::vector<std::string>> strings(const std::string& key, const char* example) {
    const toml::node* n = node(key);
    if (!n) return std::nullopt;
    std::vector<std::string> values;
    if (n->is_array())
      for (const toml::node& item : *n->as_array()) {
        if (!item.is_string()) fail(key, "must be an array of strings, e.g. " + std::string(example));
        values.push_back(item.as_string()->get());
      }
    if (!n->is_array() || values.empty())
      fail(key, "must be a non-empty array of strings, e.g. " + std::string(example));
    return values;
  }

  const toml::table* table(const std::string& key) {
    const toml::node* n = node(key);
    if (n && !n->is_table()) fail(key, "must be a table: write it as [" + prefix_ + key + "]");
    return n ? n->as_table() : nullptr;
  }

  // Every key of the table was read: else names the first unknown one.
  void finish(const char* known_keys) const {
    for (auto&& [key, value] : table_)
      if (!known_.count(std::string(key.str())))
        fail(std::string(key.str()), std::string("is unknown: the keys here are ") + known_keys);
  }

  const std::string& prefix() const { return prefix_; }

 private:
  const fs::path& file_;
  const toml::table& table_;
  std::string prefix_;
  std::set<std::string> known_;
};

std::string read_text(const fs::path& file, const TableReader& reader, const std::string& key, const fs::path& name) {
  const fs::path path = file.parent_path() / name;
  std::ifstream in(path, std::ios::binary);
  if (!in || fs::is_directory(path))
    reader.fail(key, "names '" + name.string() + "', which cannot be read (looked for " + path.string() +
                         "): give a path relative to the scenario file's folder");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool valid_option_name(const std::string& name) {
  return !name.empty() && name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") == std::string::npos;
}

// An option's default as text: a string as it is, a number or boolean as TOML writes it.
std::optional<std::string> option_text(const toml::node& value) {
  if (value.is_string()) return value.as_string()->get();
  if (!value.is_integer() && !value.is_floating_point() && !value.is_boolean()) return std::nullopt;
  std::ostringstream text;
  value.visit([&text](const auto& scalar) { text << scalar; });
  return text.str();
}

void read_options(ScenarioFile& file, TableReader& top) {
  const toml::table* options = top.table("options");
  if (!options) return;
  TableReader reader(file.path, *options, "options.");
  for (auto&& [key, value] : *options) {
    const std::string name(key.str());
    if (!valid_option_name(name))
      reader.fail(name, "is not a valid option name: use lower-case letters, digits and '_' (it becomes ${" + name +
                            "} in SQL and PGRACE_OPTION_<NAME> for the workers)");
    const auto text = option_text(value);
    if (!text) reader.fail(name, "must be a string, number or boolean, e.g. " + name + " = 30");
    file.options[name] = *text;
  }
}

void read_database(ScenarioFile& file, TableReader& top) {
  const toml::table* database = top.table("database");
  if (!database) return;
  TableReader reader(file.path, *database, "database.");
  for (const auto& name : reader.strings("schema", "schema = [\"schema.sql\"]").value_or(std::vector<std::string>{}))
    file.schema.push_back(read_text(file.path, reader, "schema", name));
  const auto seed = reader.string("seed", "seed = \"INSERT INTO t VALUES (1)\"");
  const auto seed_file = reader.string("seed_file", "seed_file = \"seed.sql\"");
  if (seed && seed_file) reader.fail("seed_file", "cannot be given with seed: keep one of them");
  if (seed) file.seed = *seed;
  if (seed_file) file.seed = read_text(file.path, reader, "seed_file", *seed_file);
  for (const char* key : {"migrate", "inputs"})
    if (reader.node(key))
      reader.fail(key, "is not supported yet: put the schema's SQL in files and list them in schema = [...]");
  reader.finish("schema, seed, seed_file");
}

Sync parse_sync(const TableReader& reader, const std::string& text) {
  if (text == "round") return Sync::round;
  if (text == "start") return Sync::start;
  reader.fail("sync", "must be \"round\" (every transaction released together) or \"start\" (only the first)");
}

void read_workers(ScenarioFile& file, TableReader& top) {
  const toml::table* workers = top.table("workers");
  if (!workers) top.fail("workers", "is required: add [workers] with command = [\"python3\", \"worker.py\"]");
  TableReader reader(file.path, *workers, "workers.");
  const auto command = reader.strings("command", "command = [\"python3\", \"worker.py\"]");
  if (!command) reader.fail("command", "is required: add command = [\"python3\", \"worker.py\"]");
  file.command = *command;
  file.count = static_cast<int>(reader.integer("count", 1, 256, "count = 4").value_or(file.count));
  file.iterations = reader.integer("iterations", 1, 1000000, "iterations = 20").value_or(file.iterations);
  if (auto sync = reader.string("sync", "sync = \"round\"")) file.sync = parse_sync(reader, *sync);
  reader.finish("command, count, iterations, sync");
}

FileInvariant read_invariant(const fs::path& path, const toml::table& table, std::size_t index) {
  TableReader reader(path, table, "invariant[" + std::to_string(index + 1) + "].");
  FileInvariant invariant;
  invariant.name = reader.required_string("name", "name = \"stock never negative\"");
  invariant.no_rows = reader.string("no_rows", "no_rows = \"SELECT ...\"").value_or("");
  invariant.sql = reader.string("sql", "sql = \"SELECT sum(balance) FROM accounts\"").value_or("");
  invariant.equals = reader.string("equals", "equals = \"200\"").value_or("");
  invariant.command = reader.strings("command", "command = [\"node\", \"check.mjs\"]").value_or(invariant.command);
  const int checks = !invariant.no_rows.empty() + !invariant.sql.empty() + !invariant.command.empty();
  if (checks != 1)
    reader.fail("no_rows",
                "or sql (with equals) or command: give exactly one of them to invariant '" + invariant.name + "'");
  if (invariant.sql.empty() != !reader.node("equals"))
    reader.fail("equals", "goes with sql, and sql with it: sql = \"SELECT ...\" and equals = \"200\"");
  reader.finish("name, no_rows, sql, equals, command");
  return invariant;
}

void read_invariants(ScenarioFile& file, TableReader& top) {
  const toml::node* node = top.node("invariant");
  if (!node || !node->is_array_of_tables())
    top.fail("invariant", "is required as [[invariant]] tables, each with a name and no_rows, sql + equals or command");
  std::set<std::string> names;
  for (std::size_t i = 0; i < node->as_array()->size(); ++i) {
    file.invariants.push_back(read_invariant(file.path, *node->as_array()->get(i)->as_table(), i));
    if (!names.insert(file.invariants.back().name).second)
      top.fail("invariant", "names '" + file.invariants.back().name + "' twice: give each invariant its own name");
  }
}

void read_expect(ScenarioFile& file, TableReader& top) {
  const toml::node* node = top.node("expect");
  if (!node || (node->is_string() && node->as_string()->get() == "hold")) return;
  const auto names = top.strings("expect", "expect = [\"stock never negative\"] or expect = \"hold\"");
  std::set<std::string> defined;
  for (const auto& invariant : file.invariants) defined.insert(invariant.name);
  for (const auto& name : *names)
    if (!defined.count(name))
      top.fail("expect", "names '" + name + "', which no [[invariant]] of the file defines: use an invariant's name");
  file.expect = *names;
}

toml::table parse(const fs::path& path) {
  if (!fs::is_regular_file(path))
    throw usage_error(path.string() + ": no such scenario file: give the path of a *.pgrace.toml file");
  try {
    return toml::parse_file(path.string());
  } catch (const toml::parse_error& e) {
    throw usage_error(path.string() + ":" + std::to_string(e.source().begin.line) +
                      ": not valid TOML: " + std::string(e.description()) + ": fix the syntax");
  }
}

}  // namespace

bool is_scenario_file(const std::string& argument) {
  const std::string suffix = ".pgrace.toml";
  return argument.size() > suffix.size() &&
         argument.compare(argument.size() - suffix.size(), suffix.size(), suffix) == 0;
}

ScenarioFile load_scenario_file(const fs::path& given) {
  ScenarioFile file;
  file.path = fs::absolute(given).lexically_normal();
  file.folder = file.path.parent_path();
  const toml::table table = parse(file.path);
  TableReader top(file.path, table, "");
  file.name = top.required_string("name", "name = \"shop.inventory.unsafe\"");
  file.description = top.string("description", "description = \"...\"").value_or("");
  if (auto isolation = top.string("isolation", "isolation = \"read committed\"")) {
    try {
      file.isolation = parse_isolation(*isolation);
    } catch (const Error&) {
      top.fail("isolation", "must be \"read committed\", \"repeatable read\" or \"serializable\"");
    }
  }
  read_options(file, top);
  read_database(file, top);
  read_workers(file, top);
  read_invariants(file, top);
  read_expect(file, top);
  top.finish("name, description, expect, isolation, [options], [database], [workers], [[invariant]]");
  return file;
}

}  // namespace pgrace::files
