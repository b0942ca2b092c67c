// pgrace matrix: the isolation-anomaly table (anomaly x isolation level,
// "occurs" or "prevented") measured on the server, next to the expected one.

#include <algorithm>
#include <iomanip>
#include <iostream>
#include <map>

#include "commands.hpp"
#include "pgrace/dsn.hpp"
#include "run_common.hpp"

namespace pgrace::cli {
namespace {

struct MatrixOptions {
  std::optional<std::string> dsn;
  bool json = false;
  ReportOptions reports;
  long step_timeout_ms = 5000;
};

int matrix(const MatrixOptions& o, const std::string& program) {
  const auto started = std::chrono::steady_clock::now();
  std::vector<const ScenarioDefinition*> selected;
  for (const auto& d : registered_scenarios())
    if (d.info.labels.count("anomaly") && d.info.labels.count("level")) selected.push_back(&d);
  auto row_of = [](const ScenarioDefinition* d) {
    auto it = d->info.labels.find("row");
    return it == d->info.labels.end() ? 0 : std::stoi(it->second);
  };
  std::stable_sort(selected.begin(), selected.end(), [&](auto* a, auto* b) { return row_of(a) < row_of(b); });
  RunSettings settings;
  settings.seed = random_seed();
  settings.step_timeout = std::chrono::milliseconds(o.step_timeout_ms);
  settings.shrink = false;  // the table needs verdicts, not reproducers
  auto prepared = make_scenarios(selected, {}, settings);
  const ReportFiles files = check_report_files(o.reports);
  std::ostream& out = files.terminal();

  auto server = Server::open(resolve_dsn(o.dsn));
  RunReport report = new_report(*server, settings, program, prepared);
  std::vector<std::string> anomalies;  // in registration order
  const std::vector<std::string> levels = {"read committed", "repeatable read", "serializable"};
  struct Cell {
    std::string observed, expected;
  };
  std::map<std::string, std::map<std::string, Cell>> cells;
  for (std::size_t i = 0; i < selected.size(); ++i) {
    const ScenarioInfo& info = selected[i]->info;
    report.scenarios.push_back(run_scenario(*server, info, *prepared.scenarios[i], settings));
    const ScenarioResult& r = report.scenarios.back();
    const std::string& anomaly = info.labels.at("anomaly");
    if (std::find(anomalies.begin(), anomalies.end(), anomaly) == anomalies.end()) anomalies.push_back(anomaly);
    cells[anomaly][info.labels.at("level")] = {
        r.verdict == Verdict::violated ? "occurs" : r.verdict == Verdict::held ? "prevented" : "error",
        info.expectation.expects_violation() ? "occurs" : "prevented"};
  }
  finish_report(report, started, files);

  int differing = 0;
  if (o.json) {
    nlohmann::json table = nlohmann::json::array();
    for (const auto& anomaly : anomalies) {
      nlohmann::json row = {{"anomaly", anomaly}, {"cells", nlohmann::json::object()}};
      for (const auto& level : levels) {
        const Cell& c = cells[anomaly][level];
        differing += c.observed != c.expected;
        row["cells"][level] = {{"observed", c.observed}, {"expected", c.expected}, {"matches", c.observed == c.expected}};
      }
      table.push_back(row);
    }
    out << nlohmann::json{{"server_version", server->version()}, {"levels", levels}, {"rows", table},
                          {"differing_cells", differing}}
               .dump(2)
        << "\n";
  } else {
    out << "PostgreSQL " << server->version() << ": observed (expected, per Hermitage)\n"
        << std::left << std::setw(10) << "anomaly";
    for (const auto& level : levels) out << std::setw(26) << level;
    out << "\n";
    for (const auto& anomaly : anomalies) {
      out << std::setw(10) << anomaly;
      for (const auto& level : levels) {
        const Cell& c = cells[anomaly][level];
        const bool same = c.observed == c.expected;
        differing += !same;
        out << std::setw(26) << (same ? c.observed : c.observed + " (expected " + c.expected + ") !");
      }
      out << "\n";
    }
    out << (differing ? std::to_string(differing) + " cell(s) differ from the expected table"
                      : "every cell matches the expected table")
        << "\n";
  }
  return differing ? 1 : report.exit_code;
}

}  // namespace

void add_matrix_command(CLI::App& app, const Selected& selected) {
  auto o = std::make_shared<MatrixOptions>();
  auto* command = app.add_subcommand(
      "matrix", "Run the Hermitage anomaly scenarios at every isolation level and print the table");
  add_dsn_option(*command, o->dsn);
  command->add_flag("--json", o->json, "Print the table as JSON");
  add_report_options(*command, o->reports);
  command->add_option("--step-timeout", o->step_timeout_ms, "Cancel a step stuck this many ms (default 5000)");
  command->callback([selected, o, command] {
    *selected = [o, command] { return matrix(*o, command->get_parent()->get_name()); };
  });
}

}  // namespace pgrace::cli
