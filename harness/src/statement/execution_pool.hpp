#pragma once
// The runners of a statement-level exploration: the first on the
// scenario's own database and, once the exploration has enough executions
// ahead of it and the scenario can be made again, a few more, each with a
// scenario instance, a database and connections of its own. The extra
// runners take executions the exploration will come to next and run them
// ahead of their turn; the exploration still takes every result in its own
// order, so what it finds does not depend on how many runners there were
// (an execution is the same on any runner: fresh seed, same choices, same
// input draw). Internal to pgrace.

#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "statement/execution.hpp"

namespace pgrace::detail {

// What decides an execution: its choices, the fault it injects, its draw.
struct ExecutionKey {
  std::vector<int> prefix;
  std::optional<PlannedFault> fault;
  int draw = 0;
  bool operator<(const ExecutionKey& o) const { return std::tie(prefix, fault, draw) < std::tie(o.prefix, o.fault, o.draw); }
  bool operator==(const ExecutionKey& o) const { return !(*this < o) && !(o < *this); }
};

// A runner that the pool made, with what it runs on. Its members are
// destroyed in reverse order: the runner's connections close before its
// database is dropped.
struct ExtraRunner {
  virtual ~ExtraRunner() = default;
  virtual StatementRunner& runner() = 0;
};

class ExecutionPool {
 public:
  // Makes one more runner, or throws (the pool then stays as it is).
  using RunnerMaker = std::function<std::unique_ptr<ExtraRunner>()>;

  // `first` runs executions from the start; `make_more` (may be empty: no
  // more) is called on a thread of the pool's, one runner at a time, until
  // there are `max_runners`.
  ExecutionPool(StatementRunner& first, RunnerMaker make_more, int max_runners);
  // Waits for the executions still running (each ends by its deadline) and
  // for a runner being made, then closes the extra runners.
  ~ExecutionPool();
  ExecutionPool(const ExecutionPool&) = delete;
  ExecutionPool& operator=(const ExecutionPool&) = delete;

  // The execution of `key`: taken from a runner that ran it ahead of its
  // turn, or run now on this thread (which, while it waits for another
  // runner, runs upcoming executions on the first). Throws what
  // StatementRunner::run() throws for it.
  StatementExecution run(const ExecutionKey& key, Clock::time_point deadline);

  // The executions the exploration will take next, in its order: starts
  // the first of them that are neither run nor running on idle runners,
  // and, after the first few executions, makes another runner when there
  // are more of them than runners.
  void ahead(const std::vector<ExecutionKey>& upcoming, Clock::time_point deadline);

  // How many runners there are now (the first included).
  int runners() const;

 private:
  struct Slot {
    StatementRunner* runner = nullptr;
    bool busy = false;
    bool broken = false;  // its last execution threw: not used again
  };

  Slot* claim_idle();  // under mutex_
  std::optional<ExecutionKey> unstarted(const ExecutionKey& key) const;
  std::future<StatementExecution> run_now(const ExecutionKey& key, Clock::time_point deadline);
  void release(Slot& slot, bool broken);
  void grow();

  StatementRunner& first_;
  RunnerMaker make_more_;
  const int max_runners_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<std::unique_ptr<ExtraRunner>> extras_;
  std::map<ExecutionKey, std::future<StatementExecution>> ahead_;  // run or running ahead of their turn
  std::vector<ExecutionKey> upcoming_;                             // as ahead() was last told
  long runs_ = 0;  // run() calls: only this thread's
  std::thread grower_;
  bool growing_ = false;
  bool stop_growing_ = false;
};

}  // namespace pgrace::detail
