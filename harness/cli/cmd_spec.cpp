// pgrace spec: run PostgreSQL isolation tester spec files and print the
// tester's transcript, or check it against the tester's expected output.

#include <filesystem>
#include <iostream>
#include <map>
#include <regex>

#include "commands.hpp"
#include "flags.hpp"
#include "pgrace/dsn.hpp"
#include "pgrace/error.hpp"
#include "pgrace/server.hpp"
#include "run_common.hpp"
#include "spec/database.hpp"
#include "spec/diff.hpp"
#include "spec/runner.hpp"
#include "spec/spec.hpp"
#include "spec/transcript.hpp"

namespace pgrace::cli {
namespace {

// Interleavings generated for a spec without permutations, at most, unless
// --max-permutations says otherwise.
constexpr std::uint64_t kMaxPermutations = 100000;

struct SpecOptions {
  std::vector<std::string> files;
  std::vector<std::string> expected;
  std::optional<std::string> dsn;
  std::string step_timeout_ms = "60000";        // as given, parsed by parse_whole (flags.hpp)
  std::optional<std::string> max_permutations;  // as given; parsed by load_jobs
  bool quiet = false;
};

// A spec file to run and what its transcript must match (none: print it).
struct SpecJob {
  spec::Spec spec;
  std::vector<spec::Permutation> permutations;
  std::vector<spec::Expected> expected;
};

// "NAME" of NAME.spec, NAME.out and NAME_N.out (the tester's alternatives).
std::string test_name(const std::string& path) {
  const std::string stem = std::filesystem::path(path).stem().string();
  static const std::regex alternative("(.*)_[0-9]+");
  std::smatch m;
  return std::regex_match(stem, m, alternative) ? m[1].str() : stem;
}

// With one spec file every expected file is its alternative; with several,
// NAME.out and NAME_N.out belong to NAME.spec.
void assign_expected(std::vector<SpecJob>& jobs, const std::vector<std::string>& expected) {
  for (const std::string& path : expected) {
    std::vector<SpecJob*> owners;
    for (SpecJob& job : jobs)
      if (jobs.size() == 1 || test_name(job.spec.file) == test_name(path)) owners.push_back(&job);
    if (owners.size() != 1)
      throw usage_error("--expected " + path + " matches " + (owners.empty() ? "none" : "several") +
                        " of the spec files: with several spec files, NAME.out and NAME_N.out go with NAME.spec");
    owners.front()->expected.push_back(spec::load_expected(path));
  }
  if (expected.empty()) return;
  for (const SpecJob& job : jobs)
    if (job.expected.empty())
      throw usage_error("no --expected file for " + job.spec.file + ": give its NAME.out (or run it alone)");
}

std::vector<SpecJob> load_jobs(const SpecOptions& o) {
  if (o.files.empty()) throw usage_error("no spec file given: pgrace spec FILE.spec... (see pgrace spec --help)");
  const std::uint64_t limit = o.max_permutations
                                  ? parse_whole("--max-permutations", *o.max_permutations, WholeRange{1, SIZE_MAX})
                                  : kMaxPermutations;
  std::vector<SpecJob> jobs;
  for (const std::string& file : o.files) {
    SpecJob job{spec::load_spec(file), {}, {}};
    job.permutations = spec::permutations_to_run(job.spec, limit);
    jobs.push_back(std::move(job));
  }
  assign_expected(jobs, o.expected);
  return jobs;
}

// Why a run without --expected fails, or "".
std::string run_problem(const spec::SpecRun& run) {
  if (run.end == spec::RunEnd::setup_failed) return "a setup block failed, so the run stopped there";
  if (run.end == spec::RunEnd::mutually_blocked) return "steps still blocked each other at a permutation's end";
  if (run.end == spec::RunEnd::session_stuck)
    return "a step's session stayed busy with an earlier step for twice the step timeout, so the permutation "
           "could not go on (check its order and markers)";
  if (run.end == spec::RunEnd::connection_lost)
    return "a session's backend ended and the run needed it again (for its next step, or for a reply that never "
           "came), so the run stopped there as the tester stops; a spec must not use a session after ending its "
           "backend";
  if (!run.canceled_steps.empty())
    return "step " + run.canceled_steps.front() +
           " neither completed nor waited for a lock within the step "
           "timeout and was cancelled (raise --step-timeout if it is only slow)";
  return "";
}

// Runs one spec file in a database of its own; the transcript's text goes
// to `sink` as it grows.
spec::SpecRun run_job(const Server& server, const SpecJob& job, spec::Transcript& transcript,
                      const spec::TranscriptSink& sink, const spec::RunLimits& limits) {
  if (sink) sink(transcript.text());
  spec::SpecDatabase database(server.dsn());
  spec::SpecRun run = spec::run_spec(job.spec, job.permutations, database.dsn(), transcript, sink, limits);
  database.drop();
  return run;
}

// Prints whether the transcript matched; returns whether it did.
bool judge(const SpecJob& job, const std::string& transcript, bool quiet) {
  const spec::Comparison comparison = spec::compare_transcript(transcript, job.expected);
  const std::string& closest = job.expected[comparison.closest].name;
  if (comparison.matched) {
    if (!quiet) std::cout << "ok    " << job.spec.file << " (matches " << closest << ")\n";
    return true;
  }
  std::cout << "FAIL  " << job.spec.file << ": the transcript differs from " << closest
            << (job.expected.size() > 1 ? ", the closest expected output" : "") << "\n"
            << comparison.diff;
  return false;
}

int run(const SpecOptions& o) {
  spec::RunLimits limits;  // every usage error before a server starts
  const auto step_timeout_ms = parse_whole("--step-timeout", o.step_timeout_ms, pgrace::limits::step_timeout_ms);
  limits.step_timeout = std::chrono::milliseconds(step_timeout_ms);
  const std::vector<SpecJob> jobs = load_jobs(o);
  const bool checking = !o.expected.empty();
  auto server = Server::open(resolve_dsn(o.dsn));
  spec::TranscriptSink print;
  if (!checking && !o.quiet) print = [](const std::string& text) { std::cout << text << std::flush; };
  std::size_t good = 0;
  for (const SpecJob& job : jobs) {
    spec::Transcript transcript(job.spec);
    const spec::SpecRun run = run_job(*server, job, transcript, print, limits);
    if (checking) {
      good += judge(job, transcript.text(), o.quiet);
    } else if (const std::string problem = run_problem(run); !problem.empty()) {
      std::cerr << "pgrace: " << job.spec.file << ": " << problem << "\n";
    } else {
      ++good;
    }
  }
  if (checking && !o.quiet) std::cout << good << "/" << jobs.size() << " spec files matched their expected output\n";
  return static_cast<int>(good == jobs.size() ? ExitCode::ok : ExitCode::mismatch);
}

}  // namespace

void add_spec_command(CLI::App& app, const Selected& selected) {
  auto o = std::make_shared<SpecOptions>();
  auto* command = app.add_subcommand(
      "spec",
      "Run PostgreSQL isolation tester spec files (src/test/isolation format) and print the transcript "
      "isolationtester prints, or check it against expected output files");
  command->add_option("files", o->files, "Spec files (NAME.spec), run one after another, each in a new empty database");
  command
      ->add_option("--expected", o->expected,
                   "Expected output to compare with instead of printing the transcript (repeatable: "
                   "NAME.out, NAME_1.out, ... are alternatives; with several spec files NAME*.out go with "
                   "NAME.spec). Exit 0 if each spec matched one, 1 if not (with a unified diff against the "
                   "closest)")
      ->allow_extra_args(false);
  add_dsn_option(*command, o->dsn);
  command
      ->add_option("--step-timeout", o->step_timeout_ms,
                   "Cancel a step that neither completes nor waits for a lock within this many ms "
                   "(default 60000; isolationtester's is 300 s); the run fails")
      ->capture_default_str();
  command
      ->add_option("--max-permutations", o->max_permutations,
                   "Run a spec without permutations only if it has at most this many interleavings (default "
                   "100000; each one runs, so raise it with care)")
      ->type_name("N");
  command->add_flag("-q,--quiet", o->quiet, "Print only mismatches (with --expected) and errors");
  command->footer(
      "Exit codes: 0 every spec matched an expected output (or, without --expected, ran to its end), 1 a "
      "mismatch (or a setup failure, a cancelled step, mutually blocked steps, a step of a session whose "
      "backend ended), 2 usage (unreadable or unparseable file), 3 infrastructure (no server, lost control "
      "connection).\n"
      "Example: pgrace spec specs/lost-update.spec --expected expected/lost-update.out");
  command->callback([selected, o] { *selected = [o] { return run(*o); }; });
}

}  // namespace pgrace::cli
