#include "progress_printer.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <iomanip>
#include <sstream>

namespace pgrace::cli {
namespace {

constexpr double kQuietStartSeconds = 2;  // nothing is shown before a scenario's run has lasted this long
constexpr std::chrono::seconds kPlainInterval{5};
constexpr int kDefaultColumns = 80;

// "1 violation", "2 violations".
std::string counted(long n, const std::string& singular, const std::string& plural) {
  return std::to_string(n) + " " + (n == 1 ? singular : plural);
}

std::string unit_text(ProgressUnit unit) { return unit == ProgressUnit::schedules ? "schedules" : "transactions"; }

}  // namespace

std::string progress_text(const Progress& p) {
  std::ostringstream text;
  text << p.scenario << ": ";
  if (p.repeat > 1) text << "run " << p.repetition + 1 << "/" << p.repeat << ", ";
  text << p.done;
  if (p.total) text << "/" << *p.total;
  text << " " << unit_text(p.unit) << ", " << counted(p.violations, "violation", "violations") << ", " << std::fixed
       << std::setprecision(1) << p.elapsed_s << " s";
  return text.str();
}

ProgressPrinter::ProgressPrinter(std::ostream& out, ProgressStyle style, std::function<Clock::time_point()> clock,
                                 std::function<int()> columns)
    : out_(out), style_(style), clock_(std::move(clock)), columns_(std::move(columns)) {}

ProgressPrinter::~ProgressPrinter() { clear(); }

void ProgressPrinter::show(const Progress& progress) {
  // The scenario's own elapsed time, not the command's: a scenario that
  // starts after others (or after the server) is quiet for its first 2 s too.
  if (style_ == ProgressStyle::none || progress.elapsed_s < kQuietStartSeconds) return;
  const auto now = clock_();
  if (style_ == ProgressStyle::line_in_place) {
    std::string line = progress_text(progress);
    const int width = std::max(columns_() - 1, 1);
    if (line.size() > static_cast<std::size_t>(width)) line.resize(static_cast<std::size_t>(width));
    out_ << '\r' << line << "\x1b[K" << std::flush;
    line_shown_ = true;
    return;
  }
  if (last_line_ && now - *last_line_ < kPlainInterval) return;
  last_line_ = now;
  out_ << "pgrace: " << progress_text(progress) << std::endl;
}

void ProgressPrinter::clear() {
  if (!line_shown_) return;
  out_ << "\r\x1b[K" << std::flush;
  line_shown_ = false;
}

ProgressStyle stderr_progress_style(bool quiet) {
  if (quiet) return ProgressStyle::none;
  return isatty(STDERR_FILENO) ? ProgressStyle::line_in_place : ProgressStyle::plain_lines;
}

int stderr_columns() {
  winsize size{};
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return kDefaultColumns;
}

}  // namespace pgrace::cli
