#pragma once
// Progress of a long run on stderr: on a terminal one line rewritten in
// place, elsewhere a plain line every few seconds; nothing for a scenario
// whose run is shorter than two seconds. Never on stdout or in a report.

#include <chrono>
#include <functional>
#include <optional>
#include <ostream>
#include <string>

#include "pgrace/runner.hpp"

namespace pgrace::cli {

// How progress is shown.
enum class ProgressStyle {
  none,           // not at all (-q)
  line_in_place,  // one line, redrawn with '\r' and cleared with ESC[K (a terminal)
  plain_lines,    // a line "pgrace: <progress>" every 5 s (a pipe or a file)
};

// "transfer.no_lock: run 2/3, 1200/1600 transactions, 1 violation, 4.0 s":
// the progress as one line of text (no newline); "run i/n" only when
// progress.repeat > 1, "/total" only when known.
std::string progress_text(const Progress& progress);

// Shows the ProgressCallback reports of a run. Not thread-safe: use it from
// the thread that calls run_scenario() and writes the other output.
class ProgressPrinter {
 public:
  using Clock = std::chrono::steady_clock;

  // Shows progress on `out` in `style`, timing the plain lines by `clock`;
  // `columns` gives the terminal's width (line_in_place trims the line to
  // one less). Keeps a reference to `out`, which must outlive the printer.
  ProgressPrinter(
      std::ostream& out, ProgressStyle style, std::function<Clock::time_point()> clock = Clock::now,
      std::function<int()> columns = [] { return 80; });
  // Clears the line in place, if shown.
  ~ProgressPrinter();
  ProgressPrinter(const ProgressPrinter&) = delete;
  ProgressPrinter& operator=(const ProgressPrinter&) = delete;

  // Shows `progress` if its scenario has run for 2 s (progress.elapsed_s):
  // in place at once, or as a plain line when none was printed in the last 5 s.
  void show(const Progress& progress);

  // Erases the line in place, if one is shown (no-op otherwise). Call it
  // before writing anything else to the terminal, on stdout or stderr.
  void clear();

 private:
  std::ostream& out_;
  ProgressStyle style_;
  std::function<Clock::time_point()> clock_;
  std::function<int()> columns_;
  bool line_shown_ = false;                     // line_in_place: a line is on the terminal
  std::optional<Clock::time_point> last_line_;  // plain_lines: when the last one was printed
};

// The style for stderr: none when `quiet`; line_in_place when stderr is a
// terminal; else plain_lines.
ProgressStyle stderr_progress_style(bool quiet);

// The width of the terminal on stderr (TIOCGWINSZ), or 80 when unknown.
int stderr_columns();

}  // namespace pgrace::cli
