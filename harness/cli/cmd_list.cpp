// pgrace list: the registered scenarios, their expectations and descriptions.

#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "files/scenario_file.hpp"
#include "pgrace/error.hpp"
#include "pgrace/report.hpp"
#include "pgrace/scenario.hpp"
#include "selection.hpp"

namespace pgrace::cli {

void add_list_command(CLI::App& app, const Selected& selected) {
  auto* command = app.add_subcommand("list", "List the registered scenarios, and those of scenario files given");
  auto json = std::make_shared<bool>(false);
  auto files = std::make_shared<std::vector<std::string>>();
  command->add_flag("--json", *json, "Print JSON instead of text");
  command->add_option("files", *files, "Scenario files (*.pgrace.toml, paths or globs) to list instead");
  command->callback([selected, json, files] {
    *selected = [json, files] {
      for (const auto& file : *files)
        if (!files::is_scenario_file(file))
          throw usage_error("unexpected argument '" + file +
                            "' for pgrace list, which takes only scenario files (*.pgrace.toml)");
      std::vector<const ScenarioDefinition*> shown = load_scenario_files(*files);
      if (files->empty())
        for (const auto& d : registered_scenarios()) shown.push_back(&d);
      nlohmann::json out = nlohmann::json::array();
      for (const ScenarioDefinition* definition : shown) {
        const ScenarioDefinition& d = *definition;
        const auto& e = d.info.expectation;
        if (*json) {
          out.push_back(
              {{"name", d.info.name},
               {"description", d.info.description},
               {"expectation", {{"verdict", e.expects_violation() ? "violation" : "hold"}, {"violated", e.violated}}}});
          continue;
        }
        std::string expectation = e.expects_violation() ? "violation:" : "hold";
        for (const auto& name : e.violated) expectation += " \"" + name + "\"";
        std::cout << terminal_text(d.info.name + "  [expect " + expectation + "]\n    " + d.info.description) << "\n";
      }
      if (*json) std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
      return 0;
    };
  });
}

}  // namespace pgrace::cli
