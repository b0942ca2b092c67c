#pragma once
// The runners of an exploration whose runs do not depend on each other
// (each starts from freshly seeded tables): the first, on the scenario's
// own database, and, once the exploration has taken a few runs and has
// more ahead of it than runners, a few more, each with a scenario
// instance, a database and connections of its own. The extra runners take
// runs the exploration will come to next and run them ahead of their turn;
// the exploration still takes every result in its own order, so what it
// finds does not depend on how many runners there were (a run is the same
// on any runner). Used by interleave mode (a run: a schedule) and by
// statement-level exploration (a run: an execution). Internal to pgrace.

#include <chrono>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace pgrace::detail {

// Runs taken before the pool makes a runner: a short exploration ends
// before another database would be ready.
constexpr long kRunsBeforeGrowing = 16;

// Key: what decides a run (ordered); Runner: what runs it, one run at a
// time; Result: what a run gives.
template <typename Key, typename Runner, typename Result>
class AheadPool {
 public:
  // Runs `key` on `runner`, throwing what the run throws.
  using RunOn = std::function<Result(Runner&, const Key&)>;
  // Makes one more runner (owning what it runs on, e.g. through shared_ptr's
  // aliasing constructor), or throws: the pool then stays as it is.
  using RunnerMaker = std::function<std::shared_ptr<Runner>()>;

  // `first` runs on the calling thread; `make_more` (empty: no more) is
  // called on a thread of the pool's, one runner at a time, until there are
  // `max_runners`.
  AheadPool(Runner& first, RunOn run_on, RunnerMaker make_more, int max_runners)
      : first_(first), run_on_(std::move(run_on)), make_more_(std::move(make_more)), max_runners_(max_runners) {}

  // Waits for the runs still going (each ends by its own deadline) and for a
  // runner being made, then closes the extra runners.
  ~AheadPool() {
    {
      std::lock_guard lock(mutex_);
      stop_growing_ = true;
    }
    if (grower_.joinable()) grower_.join();
    ahead_.clear();  // each future's destructor waits for its run
    extras_.clear();
  }
  AheadPool(const AheadPool&) = delete;
  AheadPool& operator=(const AheadPool&) = delete;

  // The result of `key`: from a runner that ran it ahead of its turn, or
  // run now on this thread, which, while another runner is still at `key`,
  // runs upcoming ones on the first runner (only this thread uses it).
  Result run(const Key& key) {
    ++runs_;
    for (;;) {
      std::future<Result> pending;
      std::optional<Key> spare;
      {
        std::lock_guard lock(mutex_);
        auto found = ahead_.find(key);
        if (found == ahead_.end()) break;
        if (found->second.wait_for(std::chrono::seconds(0)) == std::future_status::ready ||
            !(spare = unstarted(key))) {
          pending = std::move(found->second);
          ahead_.erase(found);
        }
      }
      if (pending.valid()) return pending.get();
      ahead_.emplace(*spare, run_now(*spare));  // only this thread adds to ahead_
    }
    return run_on_(first_, key);
  }

  // The runs the exploration takes next, in its order: starts those that
  // are neither run nor running on idle extra runners, and, after the first
  // few runs, makes another runner when some are left without one.
  void ahead(const std::vector<Key>& upcoming) {
    std::lock_guard lock(mutex_);
    upcoming_ = upcoming;
    bool left_over = false;
    for (const Key& key : upcoming) {
      if (ahead_.count(key)) continue;
      Slot* slot = claim_idle();
      if (!slot) {
        left_over = true;
        continue;
      }
      ahead_.emplace(key, std::async(std::launch::async, [this, slot, key] {
                       try {
                         Result result = run_on_(*slot->runner, key);
                         release(*slot, false);
                         return result;
                       } catch (...) {
                         release(*slot, true);
                         throw;
                       }
                     }));
    }
    if (left_over && runs_ >= kRunsBeforeGrowing) grow();
  }

  // The runners there are now, the first included.
  int runners() const {
    std::lock_guard lock(mutex_);
    return 1 + static_cast<int>(extras_.size());
  }

  // Calls `f` on every extra runner (when no run is going: after the last).
  template <typename F>
  void for_each_extra(F f) const {
    std::lock_guard lock(mutex_);
    for (const auto& extra : extras_) f(*extra.runner);
  }

 private:
  struct Slot {
    std::shared_ptr<Runner> runner;
    bool busy = false;
    bool broken = false;  // its last run threw: not used again
  };

  // Under mutex_.
  Slot* claim_idle() {
    for (auto& slot : extras_)
      if (!slot.busy && !slot.broken) {
        slot.busy = true;
        return &slot;
      }
    return nullptr;
  }

  void release(Slot& slot, bool broken) {
    std::lock_guard lock(mutex_);
    slot.busy = false;
    slot.broken = slot.broken || broken;
  }

  // Under mutex_: the first upcoming run no runner has taken.
  std::optional<Key> unstarted(const Key& key) const {
    for (const Key& next : upcoming_)
      if (!ahead_.count(next) && (next < key || key < next)) return next;
    return std::nullopt;
  }

  std::future<Result> run_now(const Key& key) {
    std::promise<Result> done;
    try {
      done.set_value(run_on_(first_, key));
    } catch (...) {
      done.set_exception(std::current_exception());
    }
    return done.get_future();
  }

  // Under mutex_: starts making one more runner, unless one is being made,
  // there are enough, or making one failed before.
  void grow() {
    if (!make_more_ || growing_ || stop_growing_ || 1 + static_cast<int>(extras_.size()) >= max_runners_) return;
    if (grower_.joinable()) grower_.join();  // it has finished: growing_ is false
    growing_ = true;
    grower_ = std::thread([this] {
      std::shared_ptr<Runner> extra;
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
      extras_.push_back(Slot{std::move(extra)});
    });
  }

  Runner& first_;
  RunOn run_on_;
  RunnerMaker make_more_;
  const int max_runners_;
  mutable std::mutex mutex_;
  std::deque<Slot> extras_;  // only added to: a Slot& stays valid
  std::map<Key, std::future<Result>> ahead_;  // run or running ahead of their turn
  std::vector<Key> upcoming_;                 // as ahead() was last told
  long runs_ = 0;                             // run() calls: only the calling thread's
  std::thread grower_;
  bool growing_ = false;
  bool stop_growing_ = false;
};

}  // namespace pgrace::detail
