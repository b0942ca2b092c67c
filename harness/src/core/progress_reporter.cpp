#include "core/progress_reporter.hpp"

namespace pgrace::detail {

namespace {
constexpr std::chrono::seconds kInterval{1};
}  // namespace

ProgressReporter::ProgressReporter(const ProgressCallback& callback, std::string scenario)
    : callback_(callback), scenario_(std::move(scenario)) {}

void ProgressReporter::offer(ProgressUnit unit, long done, std::optional<long> total, long violations, int repetition,
                             int repeat) {
  if (!callback_) return;
  const auto now = Clock::now();
  if (last_report_ && now - *last_report_ < kInterval) return;
  last_report_ = now;
  Progress progress;
  progress.scenario = scenario_;
  progress.unit = unit;
  progress.done = done;
  progress.total = total;
  progress.violations = violations;
  progress.repetition = repetition;
  progress.repeat = repeat;
  progress.elapsed_s = std::chrono::duration<double>(now - started_).count();
  callback_(progress);
}

}  // namespace pgrace::detail
