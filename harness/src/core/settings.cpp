#include "pgrace/settings.hpp"

#include <type_traits>

#include "util/text.hpp"

namespace pgrace {
namespace {

using detail::number_text;

std::string range_text(WholeRange range) {
  return "from " + std::to_string(range.min) + " to " + std::to_string(range.max);
}

std::string range_text(SecondsRange range) {
  return (range.zero ? "0 or seconds from " : "seconds from ") + number_text(range.min) + " to " +
         number_text(range.max);
}

// Throws SettingError unless `value` lies in `range`: about the setting
// when `given`, else about the scenario's knob `knob` (Knobs::...).
template <class Value, class Range>
void check_range(const char* setting, Value value, Range range, bool given, const std::string& scenario = "",
                 const char* knob = "") {
  bool fits = false;
  if constexpr (std::is_floating_point_v<Value>)  // NaN fails every comparison and is refused too
    fits = (value >= range.min && value <= range.max) || (range.zero && value == 0);
  else
    fits =
        value >= 0 && static_cast<std::uint64_t>(value) >= range.min && static_cast<std::uint64_t>(value) <= range.max;
  if (fits) return;
  const std::string text =
      std::is_floating_point_v<Value> ? number_text(static_cast<double>(value)) : std::to_string(value);
  if (given) throw SettingError(setting, "must be " + range_text(range) + ", got " + text);
  throw SettingError(
      setting,
      "Knobs::" + std::string(knob) + " = " + text + " in its info() is out of range: give " + range_text(range),
      scenario.empty() ? "the scenario" : scenario);
}

// A shard in range, and not given with a replay of one execution.
void check_shard(const ExplorationShard& shard, const RunSettings& settings) {
  check_range("shard", shard.count, limits::shard_count, true);
  if (shard.index < 1 || shard.index > shard.count)
    throw SettingError("shard", "must be I/N with 1 <= I <= N, got " + std::to_string(shard.index) + "/" +
                                    std::to_string(shard.count));
  if (!settings.schedules.empty() || settings.draw)
    throw SettingError("shard", "splits an exploration over jobs, but " +
                                    std::string(settings.draw ? "one input draw" : "a given schedule") +
                                    " replays whole in one job: drop the shard (a reproducer replays without one)");
}

}  // namespace

SettingError::SettingError(std::string setting, std::string problem, std::string knob_of_scenario)
    : Error(ExitCode::usage, knob_of_scenario.empty() ? setting + " " + problem : knob_of_scenario + ": " + problem),
      setting_(std::move(setting)),
      problem_(std::move(problem)),
      knob_(!knob_of_scenario.empty()) {}

Knobs apply_overrides(const Knobs& defaults, const RunSettings& settings, const std::string& scenario) {
  Knobs k = defaults;
  if (settings.threads) k.threads = *settings.threads;
  if (settings.iterations) k.iterations = *settings.iterations, k.duration_s.reset();
  if (settings.duration_s) k.duration_s = *settings.duration_s;
  if (settings.isolation) k.isolation = *settings.isolation;
  if (settings.sync) k.sync = *settings.sync;
  if (settings.retries) k.retry.max_retries = *settings.retries;
  if (settings.pool_size) k.pool.size = *settings.pool_size;
  if (settings.pool_timeout) k.pool.acquire_timeout = *settings.pool_timeout;
  if (settings.faults) k.faults = *settings.faults;
  for (const FaultRule& rule : k.faults) validate(rule);
  check_range("threads", k.threads, limits::threads, settings.threads.has_value(), scenario, "threads");
  check_range("iterations", k.iterations, limits::iterations, settings.iterations.has_value(), scenario, "iterations");
  if (k.duration_s)
    check_range("duration_s", *k.duration_s, limits::duration_s, settings.duration_s.has_value(), scenario,
                "duration_s");
  check_range("retries", k.retry.max_retries, limits::retries, settings.retries.has_value(), scenario,
              "retry.max_retries");
  if (settings.pool_size || k.pool.size != 0)
    check_range("pool_size", k.pool.size, limits::pool_size, settings.pool_size.has_value(), scenario, "pool.size");
  check_range("pool_timeout", k.pool.acquire_timeout.count(), limits::pool_timeout_ms,
              settings.pool_timeout.has_value(), scenario, "pool.acquire_timeout");
  check_range("repeat", settings.repeat, limits::repeat, true);
  if (settings.statement_workers)
    check_range("statement_workers", *settings.statement_workers, limits::statement_workers, true);
  if (settings.max_switches) check_range("max_switches", *settings.max_switches, limits::max_switches, true);
  if (settings.draws) check_range("draws", *settings.draws, limits::draws, true);
  if (settings.draw) check_range("draw", *settings.draw, limits::draw, true);
  if (settings.draw && settings.draws && *settings.draw >= *settings.draws)
    throw SettingError("draw", std::to_string(*settings.draw) + " is not one of the " +
                                   std::to_string(*settings.draws) + " draws (0 to " +
                                   std::to_string(*settings.draws - 1) +
                                   "): give a smaller one, or leave the draws out");
  if (settings.shard) check_shard(*settings.shard, settings);
  check_range("max_schedules", settings.max_schedules, limits::max_schedules, true);
  if (settings.budget_s) check_range("budget_s", *settings.budget_s, limits::budget_s, true);
  check_range("step_timeout", settings.step_timeout.count(), limits::step_timeout_ms, true);
  if (settings.timeout_s) check_range("timeout_s", *settings.timeout_s, limits::timeout_s, true);
  if (settings.timeout_s && k.duration_s && *settings.timeout_s <= *k.duration_s * settings.repeat)
    throw SettingError("timeout_s", number_text(*settings.timeout_s) + " is not longer than the planned run (" +
                                        number_text(*k.duration_s) + " s x " + std::to_string(settings.repeat) +
                                        " repetitions): give a longer one");
  for (const FaultRule& rule : k.faults)
    if (settings.timeout_s && rule.kind == FaultKind::delay_reply &&
        !(std::chrono::duration<double>(rule.delay).count() < *settings.timeout_s))
      throw SettingError("timeout_s", number_text(*settings.timeout_s) +
                                          " is not longer than the reply delay of fault " + to_string(rule) +
                                          ": give a shorter delay or a longer timeout");
  check_range("statement_timeout_s", settings.statement_timeout_s, limits::statement_timeout_s, true);
  return k;
}

}  // namespace pgrace
