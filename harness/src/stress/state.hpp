#pragma once
// Stress mode's shared state: the workers (each one's connection, random
// parameters and what it saw), one repetition's barriers and counters, and a
// worker thread's body. Internal to pgrace.

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "faults/gate.hpp"
#include "faults/worker_connection.hpp"
#include "pgrace/knobs.hpp"
#include "pgrace/outcome.hpp"
#include "pgrace/scenario.hpp"
#include "stress/barrier.hpp"
#include "stress/lease_pool.hpp"
#include "stress/shared_pool.hpp"
#include "stress/worker_pool.hpp"
#include "wire/proxy.hpp"

namespace pgrace::detail::stress {

// How many outcome classes there are (OutcomeClass's values).
constexpr std::size_t kOutcomeClasses = static_cast<std::size_t>(OutcomeClass::scenario_error) + 1;
// How long a thread whose backend was cancelled or terminated gets to return.
constexpr std::chrono::seconds kGrace{1};

inline double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

// Outcome counts that workers bump and the monitor reads while they run.
using LiveCounts = std::array<std::atomic<long>, kOutcomeClasses>;

// The counts as a map, the classes never seen left out.
std::map<OutcomeClass, long> snapshot(const LiveCounts& counts);

// Knobs::faults at work: the workers' connections go through a wire proxy
// whose gate injects them. The proxy goes first (it calls the gate).
struct FaultInjection {
  FaultInjection(const std::string& dsn, const Knobs& knobs, std::uint64_t seed)
      : gate(knobs.faults, seed, knobs.threads), proxy(dsn, &gate) {}
  FaultGate gate;
  WireProxy proxy;
};

enum class WorkerPhase { waiting, in_transaction, done };

class WorkerState final : public Worker {
 public:
  WorkerState(std::shared_ptr<WorkerConnection> connection, std::shared_ptr<FaultInjection> faults,
              std::shared_ptr<RoundRobinPool> pool, std::shared_ptr<LeasePool> leases, int index, std::uint64_t seed,
              int repetition)
      : connection_(std::move(connection)),
        faults_(std::move(faults)),
        pool_(std::move(pool)),
        repetition_(repetition),
        leases_(leases ? std::make_unique<WorkerPool>(std::move(leases), index) : nullptr),
        index_(index) {
    std::seed_seq sequence{seed, static_cast<std::uint64_t>(index), static_cast<std::uint64_t>(repetition)};
    rng_.seed(sequence);
  }
  // Its own connection; a new one after fault injection dropped the last.
  pqxx::connection& connection() override { return connection_->get(); }
  // Its own connection (not a pooled one) is still open. Call after joining.
  bool own_connection_open() const { return connection_->is_open(); }
  // Its own connection's backend. Any thread.
  int backend_pid() const { return connection_->backend_pid(); }
  // The iteration starts: fault places count from its first request.
  void begin_iteration(long iteration) {
    iteration_ = iteration;
    connection_->forget_drop();
    if (faults_) faults_->gate.begin_iteration(index_, repetition_, iteration);
  }
  // See WorkerConnection::judged().
  Outcome judged(const Outcome& outcome) { return connection_->judged(outcome); }
  // Since when it waits for a pooled connection; nullopt when it does not. Any thread.
  std::optional<Clock::time_point> waiting_for_pool_since() const {
    return leases_ ? leases_->waiting_since() : std::nullopt;
  }
  SharedPool& shared_pool() override {
    if (!pool_) throw std::logic_error("shared_pool() needs uses_shared_pool = true in the scenario's info()");
    used_pool = true;
    return *pool_;
  }
  Pool& pool() override {
    if (!leases_)
      throw std::logic_error("pool() needs a pool: set Knobs::pool.size in the scenario's info() or pass --pool-size");
    used_pool = true;
    return *leases_;
  }
  std::mt19937_64& rng() override { return rng_; }
  int index() const override { return index_; }
  long iteration() const override { return iteration_; }
  int attempt() const override { return attempt_; }

  // Read by the main thread while the worker runs, to name a stuck worker.
  std::atomic<long> iteration_{0};
  std::atomic<WorkerPhase> phase{WorkerPhase::waiting};
  std::atomic<Clock::time_point> transaction_started{};
  int attempt_ = 0;
  // What this worker saw; read by the main thread after joining.
  std::vector<double> latencies_ms;
  std::map<OutcomeClass, long> outcomes;
  std::map<std::string, long> sqlstates;
  long attempts = 0;
  long retries = 0;
  std::optional<Outcome> fatal;          // connection lost or scenario bug: the run stops
  std::optional<Outcome> first_failure;  // its first failed attempt
  // Its first attempt that failed with an error concurrency never causes
  // (is_code_error()): "iteration 3: 42P01 relation ... does not exist".
  std::optional<std::string> first_code_error;
  // Attempts that returned TxResult::committed although nothing of theirs
  // committed and something rolled back (CommitWatch), and where the first
  // was: "iteration 3, attempt 0".
  long forgotten_commits = 0;
  std::optional<std::string> first_forgotten_commit;
  // Whether the running attempt took a pooled connection: then the watch
  // of its own connection does not see all it did.
  bool used_pool = false;
  CommitWatch* commits() { return connection_->commits(); }

 private:
  std::shared_ptr<WorkerConnection> connection_;
  std::shared_ptr<FaultInjection> faults_;
  std::shared_ptr<RoundRobinPool> pool_;
  int repetition_;
  std::unique_ptr<WorkerPool> leases_;
  int index_;
  std::mt19937_64 rng_;
};

// Everything one repetition's threads share. The main thread and every
// worker and monitor thread own it jointly, so that a thread left running
// past the timeout never touches freed memory.
struct Repetition {
  Repetition(Scenario& s, const Knobs& k, std::vector<Invariant> i, std::size_t w)
      : scenario(s),
        knobs(k),
        invariants(std::move(i)),
        max_witnesses(w),
        start(static_cast<std::size_t>(k.threads) + 1),
        round(static_cast<std::size_t>(k.threads), [this] { start_round(); }),
        first_seen(invariants.size()),
        first_witnesses(invariants.size()) {}

  // The round barrier's completion: decides, once for all workers, whether
  // another round runs. In duration mode the first round always does.
  void start_round() {
    ++rounds_started;
    const bool done =
        knobs.duration_s ? rounds_started > 1 && Clock::now() >= deadline : rounds_started > knobs.iterations;
    stop = done || abort;
  }

  Scenario& scenario;
  const Knobs knobs;
  const std::vector<Invariant> invariants;
  const std::size_t max_witnesses;
  std::vector<std::unique_ptr<WorkerState>> workers;
  LiveCounts live{};
  std::atomic<long> ended{0};
  std::atomic<bool> abort{false};
  std::atomic<bool> stop{false};
  long rounds_started = 0;     // touched only by start_round()
  Clock::time_point deadline;  // duration mode: no transaction starts after it (set before release)
  Barrier start;               // the workers and the main thread
  Barrier round;               // the workers, before every transaction (Sync::round)
  // Monitor results: first time each invariant was seen violated (ms since release).
  std::vector<std::optional<double>> first_seen;
  std::vector<std::vector<std::string>> first_witnesses;
  std::atomic<bool> violation_seen{false};  // some first_seen is set (read by the progress report)
  std::atomic<int> monitor_checking{-1};    // the invariant the monitor is checking, or -1
  std::mutex mutex;
  std::condition_variable changed;
  int finished_workers = 0;            // guarded by mutex
  bool monitor_stop = false;           // guarded by mutex
  std::exception_ptr monitor_failure;  // guarded by mutex
};

// A worker thread's body: waits for the start, then runs its transactions
// (iterations, rounds or the duration, see Knobs) until told to stop.
void worker_main(Repetition& rep, WorkerState& worker);

}  // namespace pgrace::detail::stress
