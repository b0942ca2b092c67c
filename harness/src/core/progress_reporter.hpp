#pragma once
// The one place that decides when a scenario's run calls its
// ProgressCallback (see pgrace/runner.hpp). Internal to pgrace.

#include <chrono>
#include <optional>
#include <string>

#include "pgrace/result.hpp"
#include "pgrace/scenario.hpp"
#include "pgrace/settings.hpp"

namespace pgrace::detail {

class ProgressReporter {
 public:
  // Reports for `scenario` to `callback` (may be empty: then offers do
  // nothing); elapsed time counts from now. Keeps a reference to `callback`,
  // which must outlive this object.
  ProgressReporter(const ProgressCallback& callback, std::string scenario);

  // Calls the callback with these counts (see Progress) if a report is due:
  // on the first offer, then once at least a second after the last report.
  // Cheap when none is due; call it as often as convenient.
  void offer(ProgressUnit unit, long done, std::optional<long> total, long violations, int repetition = 0,
             int repeat = 1);

 private:
  using Clock = std::chrono::steady_clock;
  const ProgressCallback& callback_;
  std::string scenario_;
  Clock::time_point started_ = Clock::now();
  std::optional<Clock::time_point> last_report_;
};

}  // namespace pgrace::detail
