#pragma once
// The transcript PostgreSQL's isolationtester prints for a spec, as
// pg_isolation_regress captures it into results/NAME.out (stdout and stderr
// together), checked byte for byte against the isolationtester of
// PostgreSQL 15. Built from what happened while the spec ran; pure logic, no
// database: the engine that runs the permutations reports events in the
// order it observes them, and the transcript turns them into the
// tester's text. Internal to pgrace.
//
// When the tester prints what (and so when the engine reports what):
//   - a step's line "step NAME: SQL" is printed when the step completes, not
//     when it is sent: notices it raised come before it;
//   - notices are printed when the tester reads their connection, that is
//     while it waits for that session's step (to complete or to be seen
//     waiting), not when the server sent them: a step marked (*) is reported
//     waiting without reading anything, so its notices come out when the
//     tester next polls it, after the lines of the steps sent meanwhile;
//   - a step seen waiting for a lock (or marked (*), or held by a marker)
//     prints "step NAME: SQL <waiting ...>" then, when it completes,
//     "step NAME: <... completed>";
//   - a completed step's results follow its line, one table per result set
//     (statements that return no rows print nothing), or "SEVERITY:  message"
//     for an error (the primary message only, never DETAIL or HINT). The
//     tester prints the line before it reads the results: notices raised by
//     a later statement of a multi-statement step come between its tables
//     (the engine reports StepCompleted without results, then StepOutput per
//     result as it reads them);
//   - NOTIFY messages the step's connection received follow its results;
//   - a step that neither completes nor is seen waiting within the step
//     timeout is cancelled, with a line saying so, and completes with the
//     cancellation error; steps still blocking each other when the
//     permutation ends, or a session still busy with an earlier step for
//     twice the step timeout when its next step is due, stop the run with
//     lines saying so;
//   - a session whose backend ends (pg_terminate_backend from another
//     session, or its own FATAL error) completes its running step with the
//     error the server sent, then libpq's error for the closed connection
//     (whole, "server closed the connection unexpectedly ..."); the other
//     sessions go on. The dead session's setup and teardown then fail as
//     blocks fail ("no connection to the server"), and its next step stops
//     the run with "failed to send query for step NAME: " and libpq's
//     message; a connection that breaks before the server said anything
//     stops it with "PQconsumeInput failed: " and libpq's message;
//   - setup and teardown blocks print only the table of their last result
//     set (what PQexec returns), and their failures as
//     "setup failed: ", "setup of session NAME failed: ",
//     "teardown of session NAME failed: ", "teardown failed: " followed by
//     libpq's whole error message. After a setup failure the tester stops.

#include <string>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include "spec/spec.hpp"

namespace pgrace::spec {

// One result set as libpq hands it over: column names and values as text;
// SQL NULL is the empty string (the tester prints both alike).
struct ResultSet {
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
};

// An error a statement ended with. `severity` and `message` are the fields
// PG_DIAG_SEVERITY and PG_DIAG_MESSAGE_PRIMARY ("ERROR", "deadlock
// detected"); when the error has no fields (libpq's own, such as a lost
// connection) `severity` is empty and `message` is libpq's whole message.
struct SqlError {
  std::string severity;
  std::string message;
};

using StepResult = std::variant<ResultSet, SqlError>;

// The blocks run around each permutation.
enum class Block { setup, session_setup, session_teardown, teardown };

namespace event {

// The tester begins a permutation (its steps, by name).
struct PermutationStarted {
  std::vector<std::string> steps;
};
// A step has been seen waiting: blocked on a lock, marked (*) at its start,
// or finished but held by a marker.
struct StepWaiting {
  std::string step;
};
// A step completed (after waiting or not) with these results, in order.
struct StepCompleted {
  std::string step;
  std::vector<StepResult> results;
};
// A notice or warning arrived on a session's connection; `text` is the
// message as libpq formats it for a notice processor (severity, message,
// DETAIL and HINT lines, final newline).
struct Notice {
  std::string session;
  std::string text;
};
// More results of a completed step, in the order read (after its
// StepCompleted, which may carry none).
struct StepOutput {
  std::vector<StepResult> results;
};
// A step that ran `seconds` without completing or waiting was cancelled.
struct StepCanceled {
  std::string step;
  int seconds = 0;
};
// A NOTIFY on `channel` reached `session`'s connection; `sender` is the
// sending session's name, or "PID n" for another backend.
struct Notify {
  std::string session;
  std::string channel;
  std::string payload;
  std::string sender;
};
// Steps still waited for each other when the permutation's steps were all
// sent (a marker that never releases, or a wait nobody resolves): the tester
// stops.
struct MutuallyBlocked {};
// The next step's session stayed busy with its earlier step `step` for
// `seconds` (twice the step timeout), so the permutation could not go on;
// `active` are the steps still busy, in session order: the tester stops.
struct SessionStuck {
  std::string step;
  int seconds = 0;
  std::vector<std::string> active;
};
// A step could not be sent: its session's connection is gone; `message` is
// libpq's (PQerrorMessage). The tester stops.
struct SendFailed {
  std::string step;
  std::string message;
};
// Reading a running step's connection failed: it broke before a complete
// reply came; `message` is libpq's (PQerrorMessage). The tester stops.
struct InputFailed {
  std::string message;
};
// A setup or teardown block's result set (only its last one).
struct BlockRows {
  ResultSet rows;
};
// A setup or teardown block failed; `session` is empty for the spec's own
// blocks; `message` is libpq's whole error message (PQerrorMessage).
struct BlockFailed {
  Block block = Block::setup;
  std::string session;
  std::string message;
};

}  // namespace event

using Event = std::variant<event::PermutationStarted, event::StepWaiting, event::StepCompleted, event::StepOutput,
                           event::StepCanceled, event::Notify, event::MutuallyBlocked, event::SessionStuck,
                           event::SendFailed, event::InputFailed, event::Notice, event::BlockRows, event::BlockFailed>;

// The text PQprint() writes for a result set with the options the tester
// uses (aligned, header, "|" between columns): nothing for a result with no
// columns; otherwise header, rule, rows and "(N rows)" then an empty line.
// Widths count bytes, as libpq does; a column whose non-empty values all look
// numeric is right-aligned.
std::string format_result_set(const ResultSet& result);

// A transcript being written. Not thread safe: one engine thread records.
class Transcript {
 public:
  // Starts with the lines the tester prints before it connects: a warning
  // "unused step name: NAME" for each step no listed permutation uses, then
  // "Parsed test spec with N sessions".
  explicit Transcript(const Spec& spec);

  // Appends the text of `event` and returns it. Throws std::logic_error on
  // events that cannot happen: a step the spec does not have, a step
  // reported waiting twice, a permutation started while a step still waits.
  std::string record(const Event& event);

  // Everything recorded so far.
  const std::string& text() const { return text_; }

 private:
  std::string render(const event::PermutationStarted& started);
  std::string render(const event::StepWaiting& waiting);
  std::string render(const event::StepCompleted& completed);
  std::string render(const event::StepOutput& output);
  std::string render(const event::StepCanceled& canceled);
  std::string render(const event::Notify& notify);
  std::string render(const event::MutuallyBlocked& blocked);
  std::string render(const event::SessionStuck& stuck);
  std::string render(const event::SendFailed& failed);
  std::string render(const event::InputFailed& failed);
  std::string render(const event::Notice& notice);
  std::string render(const event::BlockRows& rows);
  std::string render(const event::BlockFailed& failed);
  const std::string& sql_of(const std::string& step) const;

  std::unordered_map<std::string, std::string> sql_;  // step name -> SQL
  std::unordered_set<std::string> waiting_;           // steps reported waiting
  std::string text_;
};

}  // namespace pgrace::spec
