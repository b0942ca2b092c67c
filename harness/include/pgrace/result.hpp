#pragma once
// What run_scenario() returns: a scenario's judged result. Verdicts, modes
// and outcomes are typed here; they become text only where reports are
// written (to_string(), in the words the reports use).

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "pgrace/invariant.hpp"
#include "pgrace/knobs.hpp"
#include "pgrace/outcome.hpp"
#include "pgrace/scenario.hpp"

namespace pgrace {

// A scenario's verdict: every invariant held in every repetition (or
// schedule), some invariant was violated in at least one, or the run could
// not be judged (ScenarioResult::error says why).
enum class Verdict { held, violated, error };

// "held", "violated" or "error".
const char* to_string(Verdict verdict);

// How a scenario ran: worker threads running transactions concurrently
// (stress), its sessions' steps one at a time in explicit schedules
// (interleave: the scenario has sessions), or no concurrent work at all,
// only its invariants checked on the seeded database (check: the scenario
// has neither transaction() nor sessions(); see ScenarioInfo::checks_only).
enum class Mode { stress, interleave, check };

// "stress", "interleave" or "check".
const char* to_string(Mode mode);

// Interleave mode: how one step of a schedule ended.
enum class StepOutcome {
  ok,         // it completed without error
  error,      // it failed (StepRecord::sqlstate; none: its C++ code threw)
  cancelled,  // pgrace cancelled it (neither done nor seen waiting in time), or its statement was (57014)
  not_run,    // its turn never came (the schedule was infeasible or stopped)
};

// "ok", "error", "cancelled" or "not_run".
const char* to_string(StepOutcome outcome);

struct InvariantResult {
  std::string name;
  InvariantKind kind = InvariantKind::no_rows;
  bool held = true;
  int violated_runs = 0;                     // repetitions (interleave: feasible schedules) in which it was violated
  std::vector<std::string> witnesses;        // from the first violating repetition, bounded
  std::optional<double> first_violation_ms;  // stress: since release, first violating repetition
  // uses_index: the query planned, its sample parameters and the table it
  // must read through an index (planned with plan_settings()).
  std::string sql{};
  std::vector<std::string> params{};
  std::string table{};
};

// Interleave mode: one step as it ran in a schedule.
struct StepRecord {
  std::string step;
  std::string session;
  std::string sql;  // what it sent (for C++ steps, every statement, "; "-joined)
  StepOutcome outcome = StepOutcome::not_run;
  bool waited = false;                  // seen blocked on another session's lock before it ended
  std::vector<std::string> blocked_by;  // waited: the sessions it waited for when first seen waiting
  std::string sqlstate;                 // for error and cancelled
  std::string message;
  std::string observation;         // its rows as text
  int completed_as = -1;           // its place in the order of completion (0-based); -1: never completed
  std::optional<FaultKind> fault;  // statement level: the fault pgrace injected at this request, if any
};

// Interleave mode: one schedule and what happened.
struct ScheduleResult {
  std::vector<std::string> schedule;  // step names in the order they were started
  std::vector<StepRecord> steps;      // the same order
  std::vector<std::string> completion_order;
  std::vector<std::string> violated;  // invariants violated after it
  bool feasible = true;               // false: a step's session was still waiting when its turn came
  std::string note;                   // why it was infeasible, or what was cancelled
  // Its context switches: interleave mode, adjacent steps of different
  // sessions; statement level, preemptions (switches away from a worker
  // whose next request was ready; README, "Exploration").
  int switches = 0;
  // Statement level: the input draw its workers' parameters came from
  // (RunSettings::draw replays it). Absent: the scenario's own steps.
  std::optional<int> draw;
};

// Interleave mode: the schedules with exactly `switches` context switches
// (adjacent steps of different sessions), and what became of those run.
struct SwitchBound {
  int switches = 0;
  std::uint64_t total = 0;  // how many there are (listed schedules: how many were listed)
  long explored = 0;
  long infeasible = 0;
  long violated = 0;  // the rest of those explored held
};

// Interleave mode: how the reproducer was shrunk from the first violating
// schedule: whole sessions removed, then sessions' trailing steps (their
// open transactions rolled back), then steps reordered to fewer switches,
// each change kept only while `invariant` was still violated.
struct Shrinking {
  std::string invariant;             // the invariant kept violated
  ScheduleResult original;           // the first violating schedule found
  std::vector<std::string> changes;  // what was removed or reordered, one line each
  int attempts = 0;                  // schedules run while shrinking
};

// An exploration's share of the work when it ran one shard of it
// (RunSettings::shard).
struct ShardShare {
  int index = 1;  // this shard, from 1
  int count = 1;  // of this many
  // What the whole exploration was dealt in, round-robin: interleave mode,
  // the planned schedules; statement level, each input draw's first
  // execution and each order branching off it within max_switches (with
  // the orders below it).
  // This shard got none of them when index > parts (a space smaller than
  // the shards: the others explore all of it).
  std::uint64_t parts = 0;
  // Statement level: executions run only to find this shard's parts (other
  // shards' draws' first executions), neither judged nor counted as explored.
  long discovery = 0;
  bool empty() const { return static_cast<std::uint64_t>(index) > parts; }
};

// Interleave mode: what the exploration covered and found. Schedules run in
// order of their number of context switches, fewest first.
struct Exploration {
  std::uint64_t total = 0;  // all interleavings (or the listed schedules)
  long explored = 0;        // schedules run, infeasible ones included
  long infeasible = 0;
  long violating = 0;                               // feasible schedules after which some invariant was violated
  double schedules_per_s = 0;                       // explored per second of the exploration's wall time
  std::optional<int> max_switches;                  // the bound asked for
  std::vector<SwitchBound> bounds;                  // per switch count, fewest first, up to the bound
  std::string stopped;                              // why it stopped early ("" when it did not)
  std::vector<ScheduleResult> violating_schedules;  // in the order run, at most 20
  std::vector<ScheduleResult> held_schedules;       // the first feasible ones that held, at most 20
  std::optional<ScheduleResult> reproducer;         // the shrunk first violating schedule
  // Statement level (explore --workers N): N, and each schedule's steps are
  // the workers' requests ("w1.2": worker 1's second chosen request), its
  // switches preemptions. 0: the scenario's own steps.
  int statement_workers = 0;
  // Statement level with faults (Knobs::faults): executions that injected a
  // drop_reply or drop_before_send fault into one request ("w1.3!drop_reply").
  long faulted = 0;
  // Statement level: the input draws whose executions were explored
  // (RunSettings::draws), and whether the workers drew their parameters
  // from w.rng() at all (false: there was one input to try, and one draw).
  int draws = 0;
  bool inputs_drawn = false;
  // The runners that ran the schedules (executions), each on a database of
  // its own; past 1, some ran ahead of their turn (run_scenario()'s
  // make_more). What was found does not depend on it.
  int runners = 0;
  // Statement level: milliseconds from the first execution's start to the
  // end of the first violating one. Absent: none violated.
  std::optional<double> first_violation_ms;
  std::optional<Shrinking> shrinking;  // how it was shrunk (absent: not shrunk)
  // The shard this exploration was (its counts, bounds and schedules are
  // the shard's own); absent: the whole exploration.
  std::optional<ShardShare> shard;
};

struct LatencySummary {
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0;
};

// Stress mode with a pool (Knobs::pool.size > 0): how the scenario used
// Worker::pool(), over every repetition.
struct PoolStats {
  int size = 0;                   // connections
  double acquire_timeout_ms = 0;  // the configured timeout (Pool::acquire())
  bool other_timeouts = false;    // some acquire(timeout) passed another timeout than the configured one
  long acquires = 0;              // Pool::acquire() calls, timed-out ones included
  long timeouts = 0;              // acquires that threw PoolTimeout
  int peak_leased = 0;            // most connections leased at once
  int leaked = 0;                 // most leases still held at the end of a repetition (taken back by pgrace)
  LatencySummary wait;            // how long acquires waited, timed-out ones included (past 10000
                                  // acquires, percentiles of a uniform sample of 10000; max exact)
};

// Stress mode: what the repetitions covered and measured (check mode:
// repetitions and violating_runs only).
// One request a worker sent through pgrace's wire proxy (a run with
// Knobs::faults goes through it).
struct RequestRecord {
  int worker = 0;         // 0 .. threads-1
  std::string sql;        // its SQL, and its parameters as "-- $1 = '...'"
  double started_ms = 0;  // since the workers were released
  double ended_ms = 0;    // its reply came (or the connection ended)
  char status = 0;        // the reply's transaction status: 'I' idle, 'T' in a transaction, 'E' failed; 0: no reply
  std::string sqlstate;   // of its error, "" if none
  std::optional<FaultKind> fault;  // injected into it
};

struct Stress {
  int repetitions = 0;                     // run (fewer than RunSettings::repeat when the run ended in verdict error)
  int violating_runs = 0;                  // repetitions with at least one violated invariant
  long retries = 0;                        // attempts that retried a 40001/40P01 failure
  double throughput_tps = 0;               // transactions ended (any outcome) per second of run time
  LatencySummary latency;                  // per transaction, retries included
  std::vector<double> first_violation_ms;  // per violating repetition, since release
  std::optional<PoolStats> pool;           // absent when the run had no pool
  std::map<FaultKind, long> faults;        // faults injected (Knobs::faults), by kind
  // With Knobs::faults: the requests of the first violating repetition
  // (requests_repetition, from 1; 0: none), each worker's last 100, in the
  // order they started.
  int requests_repetition = 0;
  std::vector<RequestRecord> requests;
};

struct PhaseTimings {
  double setup_ms = 0;     // database clone and connections
  double reset_ms = 0;     // TRUNCATE + seed, all repetitions (interleave: before every schedule)
  double run_ms = 0;       // workers, all repetitions (interleave: the schedules' steps)
  double check_ms = 0;     // invariant checks after each repetition (interleave: after each schedule)
  double teardown_ms = 0;  // connections closed, database dropped
};

// With RunSettings::keep, on a violation: the scenario's database, kept on
// the run's server with the state the violation left instead of dropped.
struct KeptDatabase {
  std::string database;  // its name (pgrace clean or DROP DATABASE removes it from a server of yours)
  std::string state;     // which state it holds, one line, e.g. "after repetition 3, the first violating one"
};

struct ScenarioResult {
  ScenarioInfo info;
  Knobs knobs;  // as run
  std::uint64_t seed = 0;
  Verdict verdict = Verdict::held;
  bool matched = false;  // verdict and violated set match the expectation (see run_scenario())
  std::string error;     // for Verdict::error
  std::optional<KeptDatabase> kept;  // RunSettings::keep: the database kept (absent: none)
  Mode mode = Mode::stress;
  std::vector<InvariantResult> invariants;
  // Stress: the final outcome of every transaction; interleave: of every
  // step that ran (a step that succeeded counts as committed).
  std::map<OutcomeClass, long> outcomes;
  std::map<std::string, long> sqlstates;  // every failed attempt (step), retried or not
  long attempts = 0;                      // transaction attempts, retries included (interleave: steps run)
  PhaseTimings phases;
  std::string deadlock_timeout;  // in force for the workers' sessions
  Stress stress;                 // stress mode only (zero in interleave mode)
  Exploration exploration;       // interleave mode only (empty in stress mode)
  // On a violation or error, with pgrace's own ephemeral server: the
  // server's log lines of the scenario's time window (at most 200).
  std::vector<std::string> server_log;
};

// Whether the invariants violated in a statement-level exploration
// (explore --workers N) meet the scenario's expected ones: some expected
// invariant was violated and no other was. An expectation is written for
// `pgrace run` with its many workers, and two workers may be unable to
// break some expected invariant (two orders of 3 units cannot oversell a
// stock of 10, but they can lose an update): those are listed by
// unbroken_expected(), not failed. (`run` demands exactly the expected
// ones, in every repetition.)
bool meets_explored_expectation(const std::set<std::string>& violated, const std::set<std::string>& expected);

// The expected invariants of `result` that held throughout: for a
// statement-level exploration that met its expectation, what it did not show.
std::vector<std::string> unbroken_expected(const ScenarioResult& result);

}  // namespace pgrace
