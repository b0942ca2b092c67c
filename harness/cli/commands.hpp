#pragma once
// The subcommands of the pgrace program, one file each (cmd_<name>.cpp).

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace pgrace::cli {

// The action of the subcommand the user chose, set while parsing; returns
// the exit code.
using Selected = std::shared_ptr<std::function<int()>>;

// Adds every subcommand to `app`.
Selected add_commands(CLI::App& app);

void add_server_command(CLI::App& app, const Selected& selected);
void add_smoke_command(CLI::App& app, const Selected& selected);
void add_list_command(CLI::App& app, const Selected& selected);
void add_run_command(CLI::App& app, const Selected& selected);
void add_explore_command(CLI::App& app, const Selected& selected);
void add_matrix_command(CLI::App& app, const Selected& selected);
void add_spec_command(CLI::App& app, const Selected& selected);
void add_clean_command(CLI::App& app, const Selected& selected);

// Adds --dsn to `command`, storing into `dsn`.
void add_dsn_option(CLI::App& command, std::optional<std::string>& dsn);

}  // namespace pgrace::cli
