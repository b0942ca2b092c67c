#pragma once
// Reports of a run: one JSON document (schema: reports/pgrace-report.schema.json),
// JUnit XML for CI, and a short summary for the terminal. None of them ever
// contains a password.

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "pgrace/result.hpp"
#include "pgrace/scenario.hpp"
#include "pgrace/server.hpp"
#include "pgrace/settings.hpp"

namespace pgrace {

inline constexpr int kReportSchemaVersion = 1;

struct RunReport {
  std::string tool_version;
  std::string started_at;  // ISO 8601, UTC
  double wall_ms = 0;
  std::string server_source;  // "ephemeral" or "dsn"
  std::string server_version;
  std::string server_dsn;                              // redacted
  std::map<std::string, std::string> server_settings;  // the ephemeral server's --server-setting ones
  ProvisionTimings provision;
  std::uint64_t seed = 0;
  int repeat = 1;
  std::size_t max_schedules = 1000;  // interleave mode: the sample size asked for
  // `pgrace run --shard index/count`: this run is shard `index` (1-based) of
  // `count`, made of its share of `selected` scenarios; count 0: not sharded.
  struct Shard {
    int index = 0, count = 0;
    std::size_t selected = 0;
  } shard;
  // For reproducer commands: the program as invoked, and per scenario name
  // the -o items ("key=value") that scenario read.
  std::string program = "pgrace";
  std::map<std::string, std::vector<std::string>> scenario_options;
  std::vector<ScenarioResult> scenarios;
  int exit_code = 0;
};

// 0 when every scenario matched its expectation, else 1.
int exit_code_of(const std::vector<ScenarioResult>& results);

nlohmann::json to_json(const ScenarioResult& result);
nlohmann::json to_json(const RunReport& report);

// JUnit XML: one testsuite named `suite`, one testcase per scenario; a
// mismatch is a <failure>, a verdict "error" an <error>, each with a `type`
// and a body giving the violated invariants, their witnesses and the
// command that reproduces the run. Run-wide settings are <properties> of the
// suite, per-scenario ones of each testcase; a testcase has `file` and `line`
// when the scenario's registration recorded them (`file` relative to the
// current directory when it lies below it). Well-formed XML 1.0 whatever the
// text: invalid UTF-8 becomes U+FFFD, control characters "\xNN".
std::string to_junit(const RunReport& report, const std::string& suite = "pgrace");

// The command line that reruns `result` alone with the same settings:
// `pgrace run NAME --seed N --threads ...` for a stress scenario, `pgrace
// explore NAME --schedule "..."` for an interleave one (its minimal
// reproducer, which replays without a shard; else its seeded sample, with
// --shard I/N for one shard of it). Shell-quoted where needed.
std::string reproducer_command(const RunReport& report, const ScenarioResult& result);

// One scenario of an HTML timeline page: its result and the command line
// that repeats it.
struct HtmlSection {
  const ScenarioResult& result;
  std::string replay;
};

// One self-contained HTML page (inline CSS, script and data; it fetches
// nothing) with a section per scenario, titled `title`: the verdict, the
// invariants with their witnesses, the replay command and a timeline, one
// lane per session (worker) and one box per step (request) in the order they
// ran, coloured by outcome, injected faults in a lane of their own. The
// timeline shows an exploration's shrunk reproducer (and, toggled, the
// original schedule) or, for a stress run with faults, the requests of its
// first violating repetition; a stress run without faults says how to get
// one. The data is embedded as JSON that no text of a scenario can end
// early (no "</script>"). See README, "Reports".
std::string to_html(const std::vector<HtmlSection>& sections, const std::string& title);

// The page for every scenario of `report`, each with its
// reproducer_command().
std::string to_html(const RunReport& report);

// A few lines per scenario for the terminal (print it through terminal_text).
std::string summary_text(const ScenarioResult& result);

// `text` safe to print on a terminal: line breaks and tabs kept, every other
// control character (C0 such as ESC, CR and NUL, DEL, C1) and every byte that
// is not valid UTF-8 shown as the text "\xNN" (as in JUnit), so that no
// witness, description or message can move the cursor, recolour or retitle
// the terminal, or overwrite a line. What pgrace prints from scenarios and
// servers goes through it.
std::string terminal_text(const std::string& text);

// Interleave mode: a schedule as numbered steps with their SQL and outcomes,
// for replaying by hand in psql (one terminal per session).
std::string schedule_text(const ScheduleResult& schedule);

// Interleave mode: one line saying, per number of context switches, how
// many schedules were explored (of how many) and held, violated or were
// infeasible, and why the exploration stopped early, if it did:
// "by context switches: 0: 3 held | 1: 4 held, 2 violated". Empty when no
// switch count had schedules to explore (nothing to say).
std::string bounds_text(const Exploration& exploration);

// Statement level: the inputs the exploration tried, "inputs: 16 draws of
// the workers' w.rng() (--draws)" or "inputs: one (the workers draw no
// parameters from w.rng())". Empty for the scenario's own steps.
std::string draws_text(const Exploration& exploration);

// One shard of an exploration (Exploration::shard): "shard 2/4: ", to put
// before its counts, or "" when it was the whole exploration.
std::string shard_prefix(const Exploration& exploration);

// One shard of an exploration: which share of the parts it explored ("shard
// 2/4 explores numbers 2, 6, 10, ... of the 37 part(s) ...", with the
// executions it ran only to find them), or that it explored nothing because
// the whole space has fewer parts than shards. Empty when not sharded.
std::string shard_text(const Exploration& exploration);

// What a scenario's author expected, as the summaries say it: "hold", or
// "violation of \"a\", \"b\"".
std::string expectation_text(const Expectation& expectation);

nlohmann::json to_json(const ScheduleResult& schedule);

// Where a --report or --junit file goes (see reports/README.md, "Where
// reports are written"). Checked when made, so that a run fails before it
// starts rather than after; creates nothing until write().
//  - a regular file, or a missing one: replaced atomically (temporary file
//    in the same directory, then rename); missing parent directories are
//    created by write();
//  - a symlink is followed and its target written the same way (the link
//    stays); a symlink owned by an account other than this process's user
//    or root is refused;
//  - this process's stdout or stderr (/dev/stdout, /proc/self/fd/1, ...):
//    written to that stream;
//  - a FIFO: opened for writing when checked, and refused if it has no
//    reader then (opening it would wait for one forever); the report is
//    written when done, and the reader sees its end when the ReportFile goes;
//  - a character device: written in place;
//  - a directory, block device or socket: refused.
// Errors are pgrace::Error (usage) naming the path. Not thread-safe.
class ReportFile {
 public:
  explicit ReportFile(std::string path);
  const std::string& path() const { return path_; }
  // True when the report goes to this process's stdout.
  bool is_stdout() const { return stdout_; }
  // True when the report goes to this process's stderr.
  bool is_stderr() const { return stderr_; }
  // True when both name the same file, however spelt.
  bool same_file_as(const ReportFile& other) const;
  // Writes `content` (checking the path again first).
  void write(const std::string& content) const;
  // Where a file beside the report goes: path() + `suffix` for a report
  // written as a regular file; nullopt for a stream, FIFO or device.
  std::optional<std::string> beside(const std::string& suffix) const;

 private:
  std::string path_;
  std::string identity_;             // device:inode of an existing file, else its canonical path
  std::shared_ptr<const int> fifo_;  // a FIFO: its write end, open from the check to the end
  bool stdout_ = false;
  bool stderr_ = false;
  bool regular_ = false;  // written as a regular file (temporary file + rename)
};

// Writes `content` to `path` via a temporary file and rename, so a reader
// never sees half a report; a symlink at `path` is replaced, not followed
// (ReportFile decides what to replace). Creates missing parent directories.
// Throws pgrace::Error (usage) naming the path if it cannot be written.
void write_file_atomically(const std::string& path, const std::string& content);

// The current time as ISO 8601 UTC ("2026-11-25T11:07:00Z").
std::string utc_now();

}  // namespace pgrace
