#include "stress/state.hpp"

#include <thread>

#include "pgrace/error.hpp"

namespace pgrace::detail::stress {
namespace {

// One iteration in kWatchEvery of each worker is watched for a forgotten
// commit (CommitWatch), the first included: watching all would cost a
// fifth of the throughput of short transactions.
constexpr long kWatchEvery = 8;

// An attempt returned TxResult::committed: was anything of it committed?
void note_forgotten_commit(WorkerState& worker, long iteration) {
  CommitWatch* commits = worker.commits();
  if (!commits || iteration % kWatchEvery != 0 || worker.used_pool || commits->committed() || !commits->rolled_back())
    return;
  if (worker.forgotten_commits++ == 0)
    worker.first_forgotten_commit =
        "iteration " + std::to_string(iteration) + ", attempt " + std::to_string(worker.attempt_);
}

void run_one_transaction(Repetition& rep, WorkerState& worker, long iteration) {
  worker.begin_iteration(iteration);
  const auto started = Clock::now();
  worker.transaction_started = started;
  worker.phase = WorkerPhase::in_transaction;
  Outcome outcome{OutcomeClass::committed, "", ""};
  for (worker.attempt_ = 0;; ++worker.attempt_) {
    ++worker.attempts;
    worker.used_pool = false;
    if (CommitWatch* commits = worker.commits()) commits->reset(iteration % kWatchEvery == 0);
    try {
      TxResult result = rep.scenario.transaction(worker);
      outcome = {result == TxResult::committed ? OutcomeClass::committed : OutcomeClass::rejected, "", ""};
      if (result == TxResult::committed) note_forgotten_commit(worker, iteration);
    } catch (...) {
      outcome = worker.judged(classify(std::current_exception()));
      ++worker.sqlstates[outcome.sqlstate.empty() ? to_string(outcome.kind) : outcome.sqlstate];
      if (!worker.first_failure) worker.first_failure = outcome;
      if (!worker.first_code_error && is_code_error(outcome.sqlstate))
        worker.first_code_error =
            "iteration " + std::to_string(iteration) + ": " + outcome.sqlstate + " " + one_line(outcome.message, 300);
    }
    if (!is_retryable(outcome.kind) || worker.attempt_ >= rep.knobs.retry.max_retries) break;
    ++worker.retries;
    const int shift = std::min(worker.attempt_, 6);
    std::this_thread::sleep_for(
        std::chrono::microseconds(worker.uniform(0, static_cast<long>(rep.knobs.retry.backoff_max_us) << shift) / 8));
  }
  worker.phase = WorkerPhase::waiting;
  worker.latencies_ms.push_back(ms_between(started, Clock::now()));
  ++worker.outcomes[outcome.kind];
  ++rep.live[static_cast<std::size_t>(outcome.kind)];
  ++rep.ended;
  if (outcome.kind == OutcomeClass::connection_lost || outcome.kind == OutcomeClass::scenario_error) {
    worker.fatal = outcome;
    rep.abort = true;
  }
}

}  // namespace

std::map<OutcomeClass, long> snapshot(const LiveCounts& counts) {
  std::map<OutcomeClass, long> out;
  for (std::size_t i = 0; i < counts.size(); ++i)
    if (long n = counts[i].load()) out[static_cast<OutcomeClass>(i)] = n;
  return out;
}

void worker_main(Repetition& rep, WorkerState& worker) {
  if (rep.start.arrive_and_wait()) {
    if (rep.knobs.sync == Sync::round) {
      for (long i = 0; rep.round.arrive_and_wait() && !rep.stop; ++i)
        if (!worker.fatal) run_one_transaction(rep, worker, i);
    } else {
      for (long i = 0; !rep.abort; ++i) {
        if (rep.knobs.duration_s ? i > 0 && Clock::now() >= rep.deadline : i >= rep.knobs.iterations) break;
        run_one_transaction(rep, worker, i);
      }
    }
  }
  worker.phase = WorkerPhase::done;
  std::lock_guard lock(rep.mutex);
  ++rep.finished_workers;
  rep.changed.notify_all();
}

}  // namespace pgrace::detail::stress
