#pragma once
// Writing a scenario: subclass pgrace::Scenario in one .cpp file and add one
// registration line, PGRACE_REGISTER_SCENARIO(MyScenario). See README,
// "Write your own scenario".
//
//   class MyScenario : public pgrace::Scenario {
//    public:
//     static pgrace::ScenarioInfo info();                 // name, expectation, knobs
//     explicit MyScenario(pgrace::Options& options);      // read options here
//     std::string schema() const override;                // CREATE TABLE ...
//     void seed(pqxx::work& tx) override;                 // INSERT the starting state
//     pgrace::TxResult transaction(pgrace::Worker& w) override;  // the concurrent work
//     std::vector<pgrace::Invariant> invariants() const override;
//   };
//   PGRACE_REGISTER_SCENARIO(MyScenario);
//
// A scenario's life in one run_scenario() call, in the words of the
// report's phase timings (phases_ms: setup, reset, run, check, teardown):
//
//   setup     schema() is built once into a template database (kept, keyed
//             by a hash of its text), which is cloned into the scenario's
//             own database; the connections are opened, and prepare() is
//             called on each worker's (and each of the Pool's, if any).
//   then per repetition (stress: RunSettings::repeat times; interleave:
//   once per schedule):
//   reset     the tables are emptied (TRUNCATE ... RESTART IDENTITY) and
//             seed() inserts the starting state;
//   run       stress: the workers are released together by a barrier and
//             call transaction() while a monitor checks the invariants
//             (those with during_run) on its own connection; interleave:
//             the sessions' steps run one at a time in the schedule's order;
//   check     the main thread, after joining the workers, checks every
//             invariant; the workers only recorded.
//   teardown  the connections are closed and the database is dropped.
//
// Then the run is judged (Verdict, ScenarioResult::matched in result.hpp).

#include <functional>
#include <map>
#include <memory>
#include <pqxx/connection>
#include <pqxx/result>
#include <pqxx/transaction>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "pgrace/invariant.hpp"
#include "pgrace/knobs.hpp"
#include "pgrace/options.hpp"
#include "pgrace/pool.hpp"
#include "pgrace/steps.hpp"

namespace pgrace {

// What a scenario's run is expected to show.
struct Expectation {
  // Empty: every invariant holds ("hold"). Otherwise exactly these invariants
  // are violated, on every run ("violation": a bundled demonstration of a
  // known-unsafe pattern).
  std::set<std::string> violated;
  bool expects_violation() const { return !violated.empty(); }
};
inline Expectation expect_hold() { return {}; }
inline Expectation expect_violation(std::set<std::string> invariants) { return {std::move(invariants)}; }

struct ScenarioInfo {
  std::string name;         // dotted, e.g. "transfer.for_update"
  std::string description;  // one paragraph: the invariant and the race it targets
  Expectation expectation;
  Knobs defaults;                 // the command line may override them
  bool uses_shared_pool = false;  // Worker::shared_pool() is only available when true
  // Free-form labels, e.g. {"anomaly": "G0", "level": "read committed"} for pgrace matrix.
  std::map<std::string, std::string> labels{};
  // Where the scenario is registered (PGRACE_REGISTER_SCENARIO records its
  // __FILE__ and __LINE__; JUnit reports point there). Empty / 0: unknown.
  std::string source_file{};
  int source_line = 0;
  // A verdict needs evidence. A stress repetition in which no transaction
  // committed, or in which fewer than min_committed_share of them did, and an
  // interleave run in which no schedule was feasible or no step succeeded,
  // end in verdict "error" saying so, whatever the invariants say: a run that
  // tested nothing must not pass.
  // True for a scenario whose transactions are all meant to fail or be
  // rejected: then committing nothing (no step succeeding) is not an error.
  bool expects_no_commits = false;
  // Errors that concurrency never causes (pgrace/outcome.hpp's
  // is_code_error(): a syntax error, an undefined table or column, a
  // missing privilege, ...) are a defect of the scenario or of the code
  // under test, even on a path rarely taken: a run with one ends in verdict
  // "error" naming the first. True for a scenario that provokes them on
  // purpose (e.g. a test of a privilege check).
  bool expects_code_errors = false;
  // The throughput floor of a stress scenario, as FoundationDB workloads have
  // one: the least share (0..1) of each repetition's transactions that must
  // commit (each transaction counts once, whatever its retries). 0: only the
  // rule above.
  double min_committed_share = 0;
  // Set by PGRACE_REGISTER_SCENARIO (and pgrace::testing::run<S>) when the
  // class overrides neither transaction() nor sessions(): a scenario of
  // invariants only (e.g. uses_index()). It runs in check mode: setup, then
  // per repetition reset (seed) and check, with no workers; its evidence is
  // that every invariant was checked, so it needs at least one.
  bool checks_only = false;
  // True for a scenario whose transaction() runs code pgrace cannot see
  // into (a scenario file's worker process): statement-level exploration
  // then takes each worker's outcome from its requests on the wire (its
  // first error's SQLSTATE, else a ROLLBACK it sent: rejected, else
  // committed) whenever transaction() returns committed.
  bool outcomes_from_wire = false;
};

// Statements issued the way a connection pool without checkout issues them
// (node-postgres' pool.query): each statement goes to whichever pooled
// connection is next, in autocommit mode. Transactions started with BEGIN
// through it therefore do not stay on one connection. Thread-safe.
class SharedPool {
 public:
  virtual ~SharedPool() = default;
  // Runs one statement with parameters $1.. on the next pooled connection.
  // SQL errors propagate as pqxx exceptions.
  virtual pqxx::result query(const std::string& sql, const std::vector<std::string>& params = {}) = 0;
};

// What one worker thread hands its transaction function. Not thread-safe:
// it belongs to its worker.
class Worker {
 public:
  virtual ~Worker() = default;
  // This worker's own connection, opened before the run, at the run's
  // isolation level (plain pqxx::work transactions use it). When fault
  // injection (pgrace/faults.hpp) dropped it, the next call opens a new one
  // the same way: call it again after a lost connection.
  virtual pqxx::connection& connection() = 0;
  // A pool shared by all workers (for scenarios that demonstrate pool misuse).
  virtual SharedPool& shared_pool() = 0;
  // The run's bounded connection pool (pgrace/pool.hpp), shared by all
  // workers: Knobs::pool.size connections besides the workers' own. Throws
  // std::logic_error when the run has no pool (Knobs::pool.size 0): set it
  // in the scenario's info() or pass --pool-size.
  virtual Pool& pool() = 0;
  // Seeded from --seed and the worker index: the same seed gives each worker
  // the same sequence.
  virtual std::mt19937_64& rng() = 0;
  virtual int index() const = 0;       // 0 .. threads-1
  virtual long iteration() const = 0;  // 0 .. iterations-1
  virtual int attempt() const = 0;     // 0 for the first try, then 1.. for retries

  // A uniformly drawn integer in [low, high].
  long uniform(long low, long high) { return std::uniform_int_distribution<long>(low, high)(rng()); }
};

// How a transaction function ends when it does not throw.
enum class TxResult {
  committed,  // it committed
  rejected,   // the application refused (e.g. insufficient funds) and rolled back
};

// A C++ exception that escapes a scenario's code (its constructor, schema(),
// prepare(), seed(), transaction(), sessions(), schedules(), invariants() or
// an invariant's predicate) makes its run verdict "error", naming the phase;
// it never aborts pgrace. A pgrace::Error it throws (e.g. a bad option in
// the constructor) keeps its exit code.
class Scenario {
 public:
  virtual ~Scenario() = default;
  // SQL that creates the schema in an empty database. Run once per distinct
  // text: the database is kept as a template and cloned for every run.
  virtual std::string schema() const = 0;
  // Called once for every worker connection (and every connection of the
  // run's Pool) before the run: declare prepared statements here
  // (connection.prepare(name, sql)). With faults it is also called during
  // the run, on the worker's thread, for the connection that replaces a
  // dropped one, possibly by several workers at once: it must be
  // thread-safe (leave the scenario's members alone).
  virtual void prepare(pqxx::connection& connection) { (void)connection; }
  // Inserts the starting state. Called on empty tables before each repetition.
  // A failing statement is a usage error (exit 2) naming the scenario.
  virtual void seed(pqxx::work& tx) = 0;
  // Stress mode: one transaction. Called concurrently by every worker,
  // `iterations` times each. Database errors are left to propagate: pgrace
  // classifies them, retries them per the retry policy and counts them.
  // Interleave scenarios do not override it.
  virtual TxResult transaction(Worker& worker) {
    (void)worker;
    throw std::logic_error("this scenario has no stress-mode transaction");
  }
  // Interleave mode: the sessions and their steps. A scenario that returns
  // sessions is run one step at a time instead of by concurrent workers.
  virtual std::vector<Session> sessions() const { return {}; }
  // Interleave mode: the schedules to run, each a list of step names. Empty:
  // every interleaving that keeps each session's order (sampled with
  // --max-schedules when there are too many).
  virtual std::vector<std::vector<std::string>> schedules() const { return {}; }
  // What must hold afterwards.
  virtual std::vector<Invariant> invariants() const = 0;
};

using ScenarioFactory = std::function<std::unique_ptr<Scenario>(Options&)>;
// Makes one more instance of a scenario already made (its options bound).
using ScenarioMaker = std::function<std::unique_ptr<Scenario>()>;

struct ScenarioDefinition {
  ScenarioInfo info;
  ScenarioFactory make;
};

// The definition of scenario class `S` (with a static info() and a
// constructor taking Options&), with info().checks_only set when S
// overrides neither transaction() nor sessions().
namespace detail {
// Whether S overrides transaction() / sessions(): &S::f names Scenario's
// own member unless S or a base between them declares f. An override that
// is not public cannot be named here, and counts as an override.
template <class S, class = void>
struct overrides_transaction : std::true_type {};
template <class S>
struct overrides_transaction<S, std::void_t<decltype(&S::transaction)>>
    : std::bool_constant<!std::is_same_v<decltype(&S::transaction), TxResult (Scenario::*)(Worker&)>> {};
template <class S, class = void>
struct overrides_sessions : std::true_type {};
template <class S>
struct overrides_sessions<S, std::void_t<decltype(&S::sessions)>>
    : std::bool_constant<!std::is_same_v<decltype(&S::sessions), std::vector<Session> (Scenario::*)() const>> {};
}  // namespace detail

template <class S>
ScenarioDefinition definition_of() {
  ScenarioInfo info = S::info();
  info.checks_only =
      info.checks_only || (!detail::overrides_transaction<S>::value && !detail::overrides_sessions<S>::value);
  return {std::move(info), [](Options& options) -> std::unique_ptr<Scenario> { return std::make_unique<S>(options); }};
}

// Adds a scenario to the registry; returns true. Used by the macro below,
// which passes its own __FILE__ and __LINE__ as `source_file` and
// `source_line` (they replace info.source_file/source_line when given).
// Throws std::logic_error for a duplicate name.
bool register_scenario(ScenarioDefinition definition, const char* source_file = nullptr, int source_line = 0);

// All registered scenarios, sorted by name.
const std::vector<ScenarioDefinition>& registered_scenarios();

}  // namespace pgrace

#define PGRACE_CONCAT_INNER(a, b) a##b
#define PGRACE_CONCAT(a, b) PGRACE_CONCAT_INNER(a, b)

// Registers scenario class `Class` (with a static info() and a constructor
// taking pgrace::Options&). One line per scenario, at namespace scope.
#define PGRACE_REGISTER_SCENARIO(Class)                                            \
  static const bool PGRACE_CONCAT(pgrace_registered_, __LINE__) [[maybe_unused]] = \
      ::pgrace::register_scenario(::pgrace::definition_of<Class>(), __FILE__, __LINE__)
