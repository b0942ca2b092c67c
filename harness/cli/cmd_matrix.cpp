// pgrace matrix: the isolation-anomaly table (anomaly x isolation level,
// "occurs" or "prevented") measured on the server, next to the expected one.

#include <algorithm>
#include <iomanip>
#include <iostream>
#include <map>

#include "commands.hpp"
#include "pgrace/dsn.hpp"
#include "pgrace/error.hpp"
#include "scenario_command.hpp"

namespace pgrace::cli {
namespace {

struct MatrixOptions {
  bool json = false;
  ScenarioOptions common;
};

const std::vector<std::string> kLevels = {"read committed", "repeatable read", "serializable"};

// One cell of the table: the anomaly at one level, observed and expected.
struct Cell {
  std::string observed, expected;
  bool matches() const { return observed == expected; }
};

// The table: anomalies in the order their scenarios ran, and per anomaly the
// cell of each level.
struct Table {
  std::vector<std::string> anomalies;
  std::map<std::string, std::map<std::string, Cell>> cells;
  int differing() const {
    int n = 0;
    for (const auto& [anomaly, row] : cells)
      for (const auto& [level, cell] : row) n += !cell.matches();
    return n;
  }
};

// The Hermitage scenarios, sorted by their "row" label.
std::vector<const ScenarioDefinition*> hermitage_scenarios() {
  std::vector<const ScenarioDefinition*> selected;
  for (const auto& d : registered_scenarios())
    if (d.info.labels.count("anomaly") && d.info.labels.count("level")) selected.push_back(&d);
  auto row_of = [](const ScenarioDefinition* d) {
    auto it = d->info.labels.find("row");
    return it == d->info.labels.end() ? 0 : std::stoi(it->second);
  };
  std::stable_sort(selected.begin(), selected.end(), [&](auto* a, auto* b) { return row_of(a) < row_of(b); });
  return selected;
}

Table table_of(const RunReport& report) {
  Table table;
  for (const ScenarioResult& r : report.scenarios) {
    const std::string& anomaly = r.info.labels.at("anomaly");
    if (std::find(table.anomalies.begin(), table.anomalies.end(), anomaly) == table.anomalies.end())
      table.anomalies.push_back(anomaly);
    table.cells[anomaly][r.info.labels.at("level")] = {r.verdict == Verdict::violated ? "occurs"
                                                       : r.verdict == Verdict::held   ? "prevented"
                                                                                      : "error",
                                                       r.info.expectation.expects_violation() ? "occurs" : "prevented"};
  }
  return table;
}

void print_json(std::ostream& out, const Table& table, const std::string& server_version) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& anomaly : table.anomalies) {
    nlohmann::json row = {{"anomaly", anomaly}, {"cells", nlohmann::json::object()}};
    for (const auto& level : kLevels) {
      const Cell& c = table.cells.at(anomaly).at(level);
      row["cells"][level] = {{"observed", c.observed}, {"expected", c.expected}, {"matches", c.matches()}};
    }
    rows.push_back(row);
  }
  out << nlohmann::json{{"server_version", server_version},
                        {"levels", kLevels},
                        {"rows", rows},
                        {"differing_cells", table.differing()}}
             .dump(2)
      << "\n";
}

void print_text(std::ostream& out, const Table& table, const std::string& server_version) {
  out << "PostgreSQL " << server_version << ": observed (expected, per Hermitage)\n"
      << std::left << std::setw(10) << "anomaly";
  for (const auto& level : kLevels) out << std::setw(26) << level;
  out << "\n";
  for (const auto& anomaly : table.anomalies) {
    out << std::setw(10) << anomaly;
    for (const auto& level : kLevels) {
      const Cell& c = table.cells.at(anomaly).at(level);
      out << std::setw(26) << (c.matches() ? c.observed : c.observed + " (expected " + c.expected + ") !");
    }
    out << "\n";
  }
  const int differing = table.differing();
  out << (differing ? std::to_string(differing) + " cell(s) differ from the expected table"
                    : "every cell matches the expected table")
      << "\n";
}

int matrix(const MatrixOptions& o, const std::string& program) {
  const auto started = std::chrono::steady_clock::now();
  ScenarioBatch batch;
  batch.selected = hermitage_scenarios();
  batch.settings = settings_from(o.common);
  batch.settings.shrink = false;  // the table needs verdicts, not reproducers
  batch.prepared = make_scenarios(batch.selected, {}, batch.settings);
  batch.files = check_report_files(o.common.reports);
  const RunReport report = run_batch(batch, o.common, {}, started, program);
  const Table table = table_of(report);
  if (!o.common.quiet) {
    if (o.json)
      print_json(batch.files.terminal(), table, report.server_version);
    else
      print_text(batch.files.terminal(), table, report.server_version);
  }
  return table.differing() ? static_cast<int>(ExitCode::mismatch) : report.exit_code;
}

}  // namespace

void add_matrix_command(CLI::App& app, const Selected& selected) {
  auto o = std::make_shared<MatrixOptions>();
  auto* command =
      app.add_subcommand("matrix", "Run the Hermitage anomaly scenarios at every isolation level and print the table");
  command->add_flag("--json", o->json, "Print the table as JSON");
  add_scenario_options(*command, o->common, Offered{false, false}, "", "Print nothing; use the exit code and reports");
  command->callback(
      [selected, o, command] { *selected = [o, command] { return matrix(*o, command->get_parent()->get_name()); }; });
}

}  // namespace pgrace::cli
