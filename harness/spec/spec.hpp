#pragma once
// PostgreSQL isolation tester spec files (src/test/isolation/specs/*.spec),
// as the isolationtester of PostgreSQL 14 and later reads them (checked
// against PostgreSQL 15's). Internal to pgrace; pure logic, no database.
//
// The format, in the order a file must follow:
//   setup { SQL }          zero or more; run once per permutation, in order
//   teardown { SQL }       at most one; run after each permutation
//   session NAME           one or more, each with
//     setup { SQL }          optional, run on the session's connection
//     step NAME { SQL }      one or more
//     teardown { SQL }       optional
//   permutation STEP ...   zero or more; none means every interleaving
// A NAME is an identifier (letters, digits, _, $ and bytes >= 0x80, not
// starting with a digit) or a "quoted name" ("" stands for one "); names are
// case sensitive and the words notices, permutation, session, setup, step and
// teardown are reserved. A permutation step may carry markers in parentheses,
// separated by commas: (*) reports the step as waiting once even if it does
// not wait; (other) keeps it reported as waiting while step `other` (of
// another session, in the same permutation) is running; (other notices N)
// until that session has emitted N more notices. `#` starts a comment to the
// end of the line outside SQL blocks. A SQL block is the text between `{` and
// the first `}`, without the spaces and tabs that follow `{` or precede `}`.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pgrace::spec {

// Where something starts in the spec file: 1-based line and column (the
// column counts characters of UTF-8 text).
struct Position {
  int line = 1;
  int column = 1;
};

struct Step {
  std::string name;
  std::string sql;
  Position at;
};

struct Session {
  std::string name;
  std::optional<std::string> setup_sql;
  std::vector<Step> steps;
  std::optional<std::string> teardown_sql;
  Position at;
};

// A marker on a permutation step: what holds its completion back.
enum class BlockerKind {
  once,     // (*): reported as waiting once, whether or not it waits
  step,     // (other): while step `other` is running
  notices,  // (other notices N): until `other`'s session emitted N more notices
};

struct Blocker {
  BlockerKind kind = BlockerKind::once;
  std::string step;  // the other step; empty for `once`
  int notices = 0;   // N, for `notices`
  Position at;
};

struct PermutationStep {
  std::string name;
  std::vector<Blocker> blockers;  // empty: no marker
  Position at;
};

struct Permutation {
  std::vector<PermutationStep> steps;
};

struct Spec {
  std::string file;  // as given to parse_spec, for messages
  std::vector<std::string> setup_sql;
  std::optional<std::string> teardown_sql;
  std::vector<Session> sessions;
  std::vector<Permutation> permutations;  // as listed; empty: all interleavings
};

// Parses a spec's text. `file` names it in error messages. Checks what the
// isolationtester checks: step names unique across sessions, permutation
// steps defined, a marker names a step of another session that is in the
// same permutation. Throws pgrace::Error (usage) with one line
// `file:line:column: message` on the first problem.
Spec parse_spec(const std::string& text, const std::string& file);

// Reads and parses the spec file at `path`; an unreadable file is a usage
// error naming it (see read_input_file).
Spec load_spec(const std::string& path);

// The whole contents of the regular file at `path`, an input of `pgrace
// spec`; `kind` names it in messages ("spec file"). Throws pgrace::Error
// (usage), one line naming the path and the fix, when it is missing,
// unreadable, a directory, or a FIFO, socket or device (which may never end
// or wait forever for a writer): those are refused without reading them.
std::string read_input_file(const std::string& path, const std::string& kind);

// A step's place in the spec: sessions[session].steps[step].
struct StepRef {
  std::size_t session = 0;
  std::size_t step = 0;
};

// Where the step called `name` is. Throws std::out_of_range when the spec has
// no such step (a parsed spec's permutations only name existing steps).
StepRef locate_step(const Spec& spec, const std::string& name);

// Names of steps no listed permutation uses, in byte order (what the tester
// warns about, "unused step name: NAME"); empty when no permutation is listed.
std::vector<std::string> unused_steps(const Spec& spec);

// The number of permutations the tester runs: the listed ones, or every
// interleaving of the sessions' steps that keeps each session's order
// (saturating at UINT64_MAX).
std::uint64_t count_permutations(const Spec& spec);

// The permutations the tester runs, in its order: the listed ones, or every
// interleaving (by lowest session index first, as the tester generates them),
// without markers. Throws pgrace::Error (usage) when there are more than
// `limit` interleavings to generate.
std::vector<Permutation> permutations_to_run(const Spec& spec, std::uint64_t limit);

}  // namespace pgrace::spec
