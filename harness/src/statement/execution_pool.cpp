#include "statement/execution_pool.hpp"

namespace pgrace::detail {
namespace {

// Executions taken before the pool makes a runner: a short exploration
// ends before another database would be ready.
constexpr long kRunsBeforeGrowing = 16;

}  // namespace

ExecutionPool::ExecutionPool(StatementRunner& first, RunnerMaker make_more, int max_runners)
    : first_(first), make_more_(std::move(make_more)), max_runners_(max_runners) {
  slots_.push_back(std::make_unique<Slot>(Slot{&first}));
}

ExecutionPool::~ExecutionPool() {
  {
    std::lock_guard lock(mutex_);
    stop_growing_ = true;
  }
  if (grower_.joinable()) grower_.join();
  ahead_.clear();  // each future's destructor waits for its execution
  extras_.clear();
}

int ExecutionPool::runners() const {
  std::lock_guard lock(mutex_);
  return static_cast<int>(slots_.size());
}

StatementExecution ExecutionPool::run(const ExecutionKey& key, Clock::time_point deadline) {
  ++runs_;
  for (;;) {
    std::future<StatementExecution> pending;
    std::optional<ExecutionKey> spare;
    {
      std::lock_guard lock(mutex_);
      auto found = ahead_.find(key);
      if (found == ahead_.end()) break;
      if (found->second.wait_for(std::chrono::seconds(0)) == std::future_status::ready || !(spare = unstarted(key))) {
        pending = std::move(found->second);
        ahead_.erase(found);
      }
    }
    if (pending.valid()) return pending.get();
    // While another runner is still at `key`, this thread runs an execution
    // that comes later on the first runner (only this thread uses it).
    ahead_.emplace(*spare, run_now(*spare, deadline));
  }
  return first_.run(key.prefix, key.fault, key.draw, deadline);
}

// Under mutex_: the first upcoming execution that no runner has taken.
std::optional<ExecutionKey> ExecutionPool::unstarted(const ExecutionKey& key) const {
  for (const ExecutionKey& next : upcoming_)
    if (!ahead_.count(next) && !(next == key)) return next;
  return std::nullopt;
}

// `key` run on the first runner, as a future that is ready.
std::future<StatementExecution> ExecutionPool::run_now(const ExecutionKey& key, Clock::time_point deadline) {
  std::promise<StatementExecution> done;
  try {
    done.set_value(first_.run(key.prefix, key.fault, key.draw, deadline));
  } catch (...) {
    done.set_exception(std::current_exception());
  }
  return done.get_future();
}

void ExecutionPool::ahead(const std::vector<ExecutionKey>& upcoming, Clock::time_point deadline) {
  std::lock_guard lock(mutex_);
  upcoming_ = upcoming;
  std::size_t waiting = 0;  // upcoming executions no runner has taken
  for (const ExecutionKey& key : upcoming) {
    if (ahead_.count(key)) continue;
    Slot* slot = claim_idle();
    if (!slot) {
      ++waiting;
      continue;
    }
    ahead_.emplace(key, std::async(std::launch::async, [this, slot, key, deadline] {
                     try {
                       StatementExecution e = slot->runner->run(key.prefix, key.fault, key.draw, deadline);
                       release(*slot, false);
                       return e;
                     } catch (...) {
                       release(*slot, true);
                       throw;
                     }
                   }));
  }
  if (waiting > 0 && runs_ >= kRunsBeforeGrowing) grow();
}

ExecutionPool::Slot* ExecutionPool::claim_idle() {
  for (std::size_t i = 1; i < slots_.size(); ++i)  // the first runner is run()'s
    if (!slots_[i]->busy && !slots_[i]->broken) {
      slots_[i]->busy = true;
      return slots_[i].get();
    }
  return nullptr;
}

void ExecutionPool::release(Slot& slot, bool broken) {
  std::lock_guard lock(mutex_);
  slot.busy = false;
  slot.broken = slot.broken || broken;
}

// Under mutex_: starts making one more runner, unless one is being made,
// there are enough, or making one failed before.
void ExecutionPool::grow() {
  if (!make_more_ || growing_ || stop_growing_ || static_cast<int>(slots_.size()) >= max_runners_) return;
  if (grower_.joinable()) grower_.join();  // it has finished: growing_ is false
  growing_ = true;
  grower_ = std::thread([this] {
    std::unique_ptr<ExtraRunner> extra;
    try {
      extra = make_more_();
    } catch (...) {
      // No more runners: the exploration goes on with those it has.
    }
    std::lock_guard lock(mutex_);
    growing_ = false;
    if (!extra || stop_growing_) {
      stop_growing_ = true;
      return;  // `extra`, if any, closes here
    }
    slots_.push_back(std::make_unique<Slot>(Slot{&extra->runner()}));
    extras_.push_back(std::move(extra));
  });
}

}  // namespace pgrace::detail
