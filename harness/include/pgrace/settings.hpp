#pragma once
// The settings of a run: what a front end (the command line, the GoogleTest
// helpers) overrides in a scenario's default knobs, and run-wide bounds;
// their ranges; the error naming a setting out of range; and how a run
// reports its progress.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "pgrace/error.hpp"
#include "pgrace/faults.hpp"
#include "pgrace/knobs.hpp"

namespace pgrace {

// The input draws a statement-level exploration tries when
// RunSettings::draws is unset (see there).
inline constexpr int kDefaultDraws = 16;

// One of `count` parts of an exploration (RunSettings::shard): shard
// `index`, from 1 to `count`.
struct ExplorationShard {
  int index = 1;
  int count = 1;
};

// Command-line overrides of a scenario's default knobs, and run-wide settings.
struct RunSettings {
  std::optional<int> threads;
  std::optional<long> iterations;
  std::optional<double> duration_s;
  std::optional<Isolation> isolation;
  std::optional<Sync> sync;
  std::optional<int> retries;
  std::optional<int> pool_size;                           // Knobs::pool.size (1..256)
  std::optional<std::chrono::milliseconds> pool_timeout;  // Knobs::pool.acquire_timeout (1..600000 ms)
  std::optional<std::vector<FaultRule>> faults;           // replace Knobs::faults (an empty list: none)
  std::uint64_t seed = 0;
  int repeat = 1;                  // fresh state (TRUNCATE + seed) before each repetition
  std::size_t max_witnesses = 10;  // per invariant
  // Keep the evidence of a violation (pgrace run/explore --keep): a stress
  // run stops after its first violating repetition, an exploration replays
  // its reproducer once more, and the scenario's database is kept with that
  // state instead of dropped (ScenarioResult::kept). Nothing is kept when
  // nothing was violated.
  bool keep = false;
  // Interleave mode:
  std::size_t max_schedules = 1000;  // sample this many when there are more (statement level: per input draw)
  std::optional<int> max_switches;   // only schedules with at most this many context switches
  std::optional<double> budget_s;    // stop exploring after this many seconds (0.1 .. 30 days)
  bool shrink = true;                // shrink the first violating schedule into the reproducer
  std::vector<std::vector<std::string>> schedules;  // run these instead of the scenario's
  std::chrono::milliseconds step_timeout{5000};     // neither done nor seen waiting: cancelled
  // Statement level (pgrace explore NAME --workers N): run a stress
  // scenario's transaction() once on each of this many workers (2..8),
  // exploring the order of their requests through pgrace's wire proxy.
  std::optional<int> statement_workers;
  // Statement level: how many input draws to explore. Each draw gives the
  // workers' w.rng() new seeds (derived from `seed`: draw 0 is the seed's
  // own; odd draws give every worker the same sequence, so that they draw
  // the same values and collide; draws 2, 6, ... one sequence shifted by a
  // value per worker; the others new ones), and every draw's orders are
  // explored, fewest context switches first across all draws. Unset:
  // kDefaultDraws. A scenario whose workers never call w.rng() has only
  // one draw.
  std::optional<int> draws;
  // Statement level: explore only this draw (0 ..), as a reproducer names it.
  std::optional<int> draw;
  // Explore only this shard of the scenario's executions (interleave mode,
  // or statement level), for CI jobs that share one exploration: the
  // `count` shards of a command run with the same settings together explore
  // exactly the executions one run without a shard explores (unless a
  // budget or max_schedules cuts it short), each judged by one shard. An
  // interleave scenario's planned schedules are dealt round-robin (schedule
  // k, from 0, to shard k mod count + 1); at statement level the parts
  // dealt are, draw by draw, each draw's first execution and the subtrees
  // of orders branching off it (README, "Sharded exploration"). Not with
  // `schedules` or `draw`, which replay one execution.
  std::optional<ExplorationShard> shard;
  // Called on the calling thread after each execution the exploration
  // judged (interleave mode or statement level; not those a shard only runs
  // to find its part, nor shrinking attempts) with its input draw (statement
  // level) and its schedule of step names, as a reproducer names them. Must
  // not throw. For tests and tools that record what was explored.
  std::function<void(std::optional<int> draw, const std::vector<std::string>& schedule)> on_explored;
  // Wall-clock bound on each scenario's run (from its database and
  // connections being ready to its last check), in seconds (0.1 .. 30 days).
  // Unset: max(10 x the planned time, 60 s), where the planned time is
  // duration_s x repeat, or in iteration mode 0.1 s per iteration x repeat,
  // or in interleave mode 0.1 s per step of every schedule. A run that
  // exceeds it ends with verdict "error" naming the threads still running
  // and what their sessions were doing; their backends are cancelled, then
  // terminated; a thread stuck in the scenario's C++ code is left running
  // (detached) and ends when the process does. What runs on the calling
  // thread (seed(), the final check's predicates) cannot be interrupted: only
  // its SQL is bounded, by the statement timeout.
  std::optional<double> timeout_s;
  // statement_timeout of every session pgrace opens on the scenario's
  // database, in seconds (0: none; else 0.001 .. 86400).
  double statement_timeout_s = 30;
};

// The range of a setting that apply_overrides() accepts: whole numbers or
// seconds from `min` to `max` (and 0 too when `zero` is set). Front ends
// show them in their own errors (pgrace's CLI: harness/cli/flags.hpp).
struct WholeRange {
  std::uint64_t min, max;
};
struct SecondsRange {
  double min, max;
  bool zero = false;
};
namespace limits {
inline constexpr WholeRange threads{1, 256};
inline constexpr WholeRange iterations{1, 1'000'000'000};
inline constexpr SecondsRange duration_s{0.01, 86400};
inline constexpr WholeRange retries{0, 1000};
inline constexpr WholeRange pool_size{1, 256};
inline constexpr WholeRange pool_timeout_ms{1, 600'000};
inline constexpr WholeRange repeat{1, 1'000'000};
inline constexpr WholeRange statement_workers{2, 8};
inline constexpr WholeRange max_switches{0, 1'000'000};
inline constexpr WholeRange draws{1, 1'000'000};
inline constexpr WholeRange draw{0, 999'999};
inline constexpr WholeRange shard_count{1, 1'000'000};
inline constexpr WholeRange max_schedules{1, SIZE_MAX};
inline constexpr SecondsRange budget_s{0.1, 2'592'000};
inline constexpr WholeRange step_timeout_ms{1, 86'400'000};
inline constexpr SecondsRange timeout_s{0.1, 2'592'000};
inline constexpr SecondsRange statement_timeout_s{0.001, 86400, true};
}  // namespace limits

// A setting that is out of range, in conflict with another, or of no use
// for a scenario (usage, exit 2). setting() is the RunSettings field
// ("threads", "duration_s", "statement_workers", ...) and what() says
// "<setting> <problem>"; a front end that spells settings otherwise (the
// CLI's flags) says "<its name> <problem>". When the value comes from a
// scenario's info() (Knobs), not from the settings, knob() is true and
// what() names the scenario and the knob instead.
class SettingError : public Error {
 public:
  SettingError(std::string setting, std::string problem, std::string knob_of_scenario = "");
  const std::string& setting() const { return setting_; }
  const std::string& problem() const { return problem_; }
  bool knob() const { return knob_; }

 private:
  std::string setting_, problem_;
  bool knob_;
};

// `defaults` with the overrides of `settings` applied. Throws SettingError
// for out-of-range values (see limits), naming the setting when `settings`
// gave it, and `scenario` (its name, if given) and the Knobs field when its
// info() did; and for --timeout not longer than duration x repeat.
Knobs apply_overrides(const Knobs& defaults, const RunSettings& settings, const std::string& scenario = "");

// What a Progress counts: transactions ended (stress mode) or schedules run
// (interleave mode).
enum class ProgressUnit { transactions, schedules };

// How far a scenario's run has got, for a progress display.
struct Progress {
  std::string scenario;  // its name
  ProgressUnit unit = ProgressUnit::transactions;
  long done = 0;              // units ended so far, every repetition so far included
  std::optional<long> total;  // units planned: threads x iterations x repeat, or the
                              // schedules to run; nullopt in duration mode
  // Repetitions (stress) or schedules (interleave) seen violating an
  // invariant so far; in stress mode the running repetition counts as soon
  // as the during-run monitor has seen a violation.
  long violations = 0;
  int repetition = 0;    // the one running, 0-based (interleave: 0)
  int repeat = 1;        // repetitions planned (interleave: 1)
  double elapsed_s = 0;  // since run_scenario() began
};

// Called by run_scenario() on its calling thread: once early in the run
// (done may be 0), then about once a second while it lasts: in stress mode
// from the loop that waits for the workers, in interleave mode between two
// schedules (a schedule whose steps wait longer delays it). Never after
// run_scenario() returned. It must return quickly (the workers run on, but
// the wait for them and the run's timeout are checked on the same thread)
// and must not throw.
using ProgressCallback = std::function<void(const Progress&)>;

}  // namespace pgrace
