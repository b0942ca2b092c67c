#include "scenario_command.hpp"

#include <iostream>
#include <sstream>

#include "commands.hpp"
#include "flags.hpp"
#include "keep.hpp"
#include "pgrace/dsn.hpp"
#include "pgrace/error.hpp"
#include "pgrace/report.hpp"
#include "progress_printer.hpp"

namespace pgrace::cli {

void add_scenario_options(CLI::App& command, ScenarioOptions& o, Offered offered, const std::string& seed_help,
                          const std::string& quiet_help) {
  add_dsn_option(command, o.dsn);
  command.add_option("--server-setting", o.server_settings,
                     "A setting of the ephemeral server, name=value (repeatable; after pgrace's own), e.g. "
                     "lock_timeout=50ms or max_connections=50");
  if (offered.scenario_knobs) {
    command.add_option("--isolation", o.isolation,
                       "read_committed, repeatable_read or serializable (default: the scenario's)");
    if (offered.sync) {
      command.add_option("--sync", o.sync, "Barrier before every transaction ('round') or only at the start ('start')");
      command.add_option("--pool-size", o.pool_size,
                         "Connections of the pool scenarios acquire from (1-256; default: the scenario's)");
      command.add_option("--pool-timeout", o.pool_timeout_ms,
                         "How long an acquire from the pool waits, milliseconds (1-600000; default: the scenario's)");
    }
    command.add_option("--fault", o.faults,
                       "Inject a fault into the workers' connections (repeatable; replaces the scenario's; 'none': "
                       "no faults): KIND[:commit][:PROBABILITY][:DELAYms], KIND drop_reply, drop_before_send or "
                       "delay_reply, e.g. drop_reply:commit:0.3");
    command.add_option("--seed", o.seed, seed_help);
    command.add_option("--timeout", o.timeout,
                       "End a scenario still running after this many seconds (default: max(10 x planned time, 60))");
    command.add_option("--statement-timeout", o.statement_timeout,
                       "statement_timeout of pgrace's sessions, seconds (0: none; default 30)");
    command.add_option("-o,--option", o.options, "Scenario option key=value (repeatable), e.g. -o accounts=8");
  }
  add_exploration_options(command, o.exploration, offered.scenario_knobs);
  add_report_options(command, o.reports);
  command.add_flag("-q,--quiet", o.quiet, quiet_help);
}

namespace {

// The rules of --fault: nullopt when not given, none for "none".
std::optional<std::vector<FaultRule>> faults_from(const std::vector<std::string>& given) {
  if (given.empty()) return std::nullopt;
  std::vector<FaultRule> rules;
  for (const std::string& text : given) {
    if (text == "none" && given.size() == 1) return rules;
    if (text == "none") throw usage_error("--fault none cannot be combined with other --fault rules");
    rules.push_back(parse_fault_rule(text));
  }
  return rules;
}

// The ephemeral server's options with the --server-setting ones.
EphemeralServerOptions server_options(const std::vector<std::string>& given) {
  EphemeralServerOptions options;
  for (const std::string& text : given) {
    const auto equals = text.find('=');
    if (equals == std::string::npos)
      throw usage_error("--server-setting needs name=value, e.g. lock_timeout=50ms, got '" + text + "'");
    const std::string name = text.substr(0, equals), value = text.substr(equals + 1);
    check_server_setting(name, value);
    if (!options.settings.emplace(name, value).second)
      throw usage_error("--server-setting names " + name + " twice: give it once");
  }
  return options;
}

// Runs scenario `i` of `batch`. A usage error of the scenario's own (its
// seed() or an invariant's SQL failed) ends a batch of one with exit 2; in a
// batch of several it is that scenario's verdict "error", and the others run.
ScenarioResult run_one(const Server& server, const ScenarioBatch& batch, std::size_t i,
                       const ProgressCallback& progress) {
  const ScenarioInfo& info = batch.selected[i]->info;
  RunSettings settings = batch.settings;
  if (const auto split = batch.split_shards.find(i); split != batch.split_shards.end()) settings.shard = split->second;
  try {
    return run_scenario(server, info, *batch.prepared.scenarios[i], settings, progress, batch.prepared.makers[i]);
  } catch (const Error& e) {
    if (e.code() != ExitCode::usage || batch.selected.size() == 1) throw;
    return error_result(info, batch.settings, one_line(e.what()));
  }
}

}  // namespace

RunSettings settings_from(const ScenarioOptions& o) {
  RunSettings settings;
  if (o.isolation) settings.isolation = parse_isolation(*o.isolation);
  if (o.sync) {
    if (*o.sync != "start" && *o.sync != "round") throw usage_error("--sync must be 'start' or 'round'");
    settings.sync = *o.sync == "start" ? Sync::start : Sync::round;
  }
  settings.seed = o.seed ? parse_seed(*o.seed, "--seed") : random_seed();
  if (o.pool_size) settings.pool_size = parse_setting<int>("pool_size", *o.pool_size);
  settings.faults = faults_from(o.faults);
  if (o.pool_timeout_ms)
    settings.pool_timeout = std::chrono::milliseconds(parse_setting<long>("pool_timeout", *o.pool_timeout_ms));
  if (o.timeout) settings.timeout_s = parse_setting<double>("timeout_s", *o.timeout);
  if (o.statement_timeout)
    settings.statement_timeout_s = parse_setting<double>("statement_timeout_s", *o.statement_timeout);
  apply_exploration_options(o.exploration, settings);
  settings.keep = o.keep;
  return settings;
}

RunReport run_batch(const ScenarioBatch& batch, const ScenarioOptions& options, const ScenarioHooks& hooks,
                    std::chrono::steady_clock::time_point started, const std::string& program) {
  std::ostream& out = batch.files.terminal();
  ProgressPrinter printer(std::cerr, progress_style(options.quiet, batch.files), ProgressPrinter::Clock::now,
                          stderr_columns);
  auto server = Server::open(resolve_dsn(options.dsn), server_options(options.server_settings));
  if (hooks.started) hooks.started(out, *server);
  RunReport report = new_report(*server, batch.settings, program, batch.prepared);
  report.shard = batch.shard;
  const ProgressCallback progress = [&printer](const Progress& p) { printer.show(p); };
  for (std::size_t i = 0; i < batch.selected.size(); ++i) {
    report.scenarios.push_back(run_one(*server, batch, i, progress));
    printer.clear();
    if (hooks.finished) {  // the scenario's texts, witnesses and server messages, made safe to print
      std::ostringstream text;
      hooks.finished(text, report.scenarios.back());
      out << terminal_text(text.str());
    }
    out.flush();
  }
  finish_report(report, started, batch.files);
  if (hooks.reported) hooks.reported(out, report);
  if (options.keep) hold_kept(out, *server, report);
  return report;
}

}  // namespace pgrace::cli
