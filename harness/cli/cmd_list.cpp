// pgrace list: the registered scenarios, their expectations and descriptions.

#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "pgrace/report.hpp"
#include "pgrace/scenario.hpp"

namespace pgrace::cli {

void add_list_command(CLI::App& app, const Selected& selected) {
  auto* command = app.add_subcommand("list", "List the registered scenarios");
  auto json = std::make_shared<bool>(false);
  command->add_flag("--json", *json, "Print JSON instead of text");
  command->callback([selected, json] {
    *selected = [json] {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& d : registered_scenarios()) {
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
