// pgrace: finds races in transaction code by running it concurrently
// against a real PostgreSQL. One file per subcommand (cmd_*.cpp); this file
// wires them together, turns parse errors into one-line usage errors with a
// suggestion, and maps errors to exit codes.

#include <fcntl.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <iostream>

#include "commands.hpp"
#include "pgrace/error.hpp"
#include "pgrace/report.hpp"
#include "server/signals.hpp"
#include "suggest.hpp"
#include "util/text.hpp"

namespace {

// Opens /dev/null on any of fds 0-2 that is closed (`pgrace ... >&-`), so
// that no connection or file opened later becomes our stdout or stderr.
void open_standard_fds() {
  for (int fd = 0; fd <= 2; ++fd)
    if (fcntl(fd, F_GETFD) == -1 && errno == EBADF) open("/dev/null", O_RDWR);  // the lowest free fd: `fd`
}

std::vector<std::string> subcommand_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; })) names.push_back(sub->get_name());
  return names;
}

// Every spelling of `command`'s options: "--threads", "-o", ...
std::vector<std::string> option_names(const CLI::App& command) {
  std::vector<std::string> names;
  for (const auto* option : command.get_options()) {
    for (const auto& long_name : option->get_lnames()) names.push_back("--" + long_name);
    for (const auto& short_name : option->get_snames()) names.push_back("-" + short_name);
  }
  return names;
}

// The message for an argument `command` did not expect: an unknown option
// with the closest option names (none for a one-letter option: every other
// one is as close), or a stray word.
std::string unexpected(const CLI::App& command, const std::string& arg) {
  const std::string name = command.get_parent() ? "pgrace " + command.get_name() : "pgrace";
  if (arg.size() < 2 || arg[0] != '-') return "unexpected argument '" + arg + "' for " + name;
  const std::string word = arg.substr(0, arg.find('='));
  std::string text = "unknown option '" + word + "' for " + name;
  const auto near =
      word.size() > 2 ? pgrace::cli::closest(word, option_names(command), 2, true) : std::vector<std::string>{};
  if (!near.empty()) text += ": did you mean " + near.front() + (near.size() > 1 ? " or " + near[1] : "") + "?";
  return text + " (see " + name + " --help)";
}

// The message for CLI11's ExtrasError: about the first argument left over,
// at the top level or in the chosen subcommand.
std::string extras_message(const CLI::App& app) {
  if (!app.remaining().empty()) return unexpected(app, app.remaining().front());
  for (const auto* sub : app.get_subcommands())
    if (!sub->remaining().empty()) return unexpected(*sub, sub->remaining().front());
  return "unexpected arguments (see pgrace --help)";
}

// A usage error for what precedes the subcommand in `argv`: an unknown
// option, an unknown command word (with the closest command), or nothing.
std::optional<std::string> before_subcommand(const CLI::App& app, int argc, char** argv) {
  const auto names = subcommand_names(app);
  const auto options = option_names(app);
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word.rfind("-", 0) == 0) {
      if (std::find(options.begin(), options.end(), word.substr(0, word.find('='))) == options.end())
        return unexpected(app, word);
      continue;
    }
    if (std::find(names.begin(), names.end(), word) != names.end()) return std::nullopt;
    const auto near = pgrace::cli::closest(word, names, 1, true);
    return "unknown command '" + word + "'" + (near.empty() ? "" : ": did you mean " + near.front() + "?") +
           " (commands: " + pgrace::detail::joined(names) + ")";
  }
  return "no command given: use one of " + pgrace::detail::joined(names) + " (see pgrace --help)";
}

int usage(const std::string& message) {
  std::cerr << "pgrace: " << pgrace::one_line(message) << "\n";
  return static_cast<int>(pgrace::ExitCode::usage);
}

}  // namespace

int main(int argc, char** argv) {
  open_standard_fds();
  pgrace::install_termination_handler();
  std::signal(SIGPIPE, SIG_IGN);  // a lost server connection is an error to report, not a crash
  CLI::App app{
      "pgrace: finds races in transaction code by running it concurrently against a real "
      "PostgreSQL and checking invariants"};
  app.set_version_flag("--version", "pgrace " PGRACE_VERSION);
  app.require_subcommand(1);
  pgrace::cli::Selected selected = pgrace::cli::add_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ExtrasError&) {
    return usage(extras_message(app));
  } catch (const CLI::ParseError& e) {
    if (auto message = before_subcommand(app, argc, argv)) return usage(*message);
    return usage(std::string(e.what()) + " (see pgrace --help)");
  }
  try {
    return (*selected)();
  } catch (const pgrace::Error& e) {
    std::cerr << "pgrace: " << pgrace::terminal_text(pgrace::one_line(e.what())) << "\n";
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    std::cerr << "pgrace: internal error: " << pgrace::terminal_text(pgrace::one_line(e.what())) << "\n";
    return static_cast<int>(pgrace::ExitCode::infrastructure);
  }
}
