#pragma once
// A scenario file (`*.pgrace.toml`, README "Your code in any language"):
// the typed contents of one, as parsed and checked. Internal to pgrace.

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pgrace/knobs.hpp"

namespace pgrace::files {

// One [[invariant]] of a scenario file: exactly one of no_rows, sql (with
// equals) or command is set.
struct FileInvariant {
  std::string name;
  std::string no_rows;               // SQL whose rows are the witnesses
  std::string sql;                   // SQL returning one value ...
  std::string equals;                // ... that must equal this text
  std::vector<std::string> command;  // argv of a program: exit 0 holds
};

struct ScenarioFile {
  std::filesystem::path path;    // the file, absolute
  std::filesystem::path folder;  // its folder: relative paths and the workers' cwd
  std::string name;              // dotted
  std::string description;
  std::vector<std::string> expect;  // the invariants expected violated; empty: "hold"
  std::optional<Isolation> isolation;
  std::map<std::string, std::string> options;  // defaults of the options, as text
  std::vector<std::string> schema;             // the schema files' SQL, in order
  std::string seed;                            // SQL run before every repetition (seed or seed_file)
  std::vector<std::string> command;            // the worker's argv
  int count = 4;
  long iterations = 20;
  Sync sync = Sync::round;
  std::vector<FileInvariant> invariants;
};

// Whether a command-line argument names a scenario file (it ends in
// ".pgrace.toml").
bool is_scenario_file(const std::string& argument);

// Reads and checks the scenario file at `path`. Throws pgrace::Error
// (usage, exit 2) with one line naming the file, the key and the fix: an
// unreadable file or TOML syntax error, an unknown key, a value of the wrong
// type, a missing required key (name, [workers] command, an invariant's
// name and check), a schema or seed file that cannot be read, an option
// name that is not [a-z0-9_]+, an expected invariant that the file does not
// define, and the keys not supported yet (migrate, inputs).
ScenarioFile load_scenario_file(const std::filesystem::path& path);

}  // namespace pgrace::files
