#pragma once
// Runs a parsed isolation spec against a server the way PostgreSQL's
// isolationtester does, reporting to a Transcript what the tester would
// print, in the order it would print it. Internal to pgrace.
//
// The tester's algorithm, which this engine follows call for call (the order
// of the lines depends on when each connection is read):
//   - one connection per session and a control connection, opened once and
//     kept for every permutation;
//   - per permutation: the spec's setup blocks on the control connection,
//     then each session's setup on its own connection (synchronous; a
//     failure stops the run);
//   - per step: if the step's session is still busy with an earlier step
//     that was seen waiting, wait for that step first (polling the other
//     waiting steps meanwhile; after twice the step timeout the run stops); send the step; wait for it to complete, or
//     to be seen waiting for a lock: every 10 ms without input, the control
//     connection asks pg_isolation_test_session_is_blocked(pid, all session
//     pids); a step marked (*) counts as waiting at once, and a completed
//     step whose markers still hold stays waiting; then poll the steps
//     already waiting, again while markers are released by completions or
//     notices;
//   - at the end: wait for the steps still waiting, then the sessions'
//     teardowns and the spec's teardown (failures printed, the run goes on);
//   - a session whose backend ends (terminated by another session, say)
//     completes its running step with the errors libpq reports, and the run
//     goes on without it; it stops when that session's next step cannot be
//     sent, or when its connection breaks before any reply (see
//     spec_transcript.hpp).
// A step that neither completes nor is seen waiting within the step timeout
// is cancelled, as the tester cancels it after 300 s.

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "spec/spec.hpp"
#include "spec/transcript.hpp"

namespace pgrace::spec {

struct RunLimits {
  // A step that neither completes nor is seen waiting for a lock for this
  // long is cancelled; one still running at twice this ends the run (as the
  // tester's max_step_wait, 300 s there).
  std::chrono::milliseconds step_timeout{60000};
};

enum class RunEnd {
  completed,         // every permutation ran to its teardown
  setup_failed,      // a setup block failed: the tester stops there
  mutually_blocked,  // steps still waited for each other at a permutation's end: the tester stops there
  session_stuck,     // a step's session stayed busy with an earlier step: the tester stops there
  connection_lost,   // a step's connection was gone when it was due, or broke before its reply: the tester stops
};

struct SpecRun {
  RunEnd end = RunEnd::completed;
  std::vector<std::string> canceled_steps;  // cancelled after the step timeout, in order
};

// Receives the transcript's text piece by piece, as soon as it is known.
using TranscriptSink = std::function<void(const std::string& text)>;

// Runs `permutations` (of `spec`, see permutations_to_run) in order on the
// database at `dsn`, which should be empty: the spec's setup makes what it
// needs. Records every event to `transcript` and passes each piece of text to
// `sink` when it is set. Single-threaded; returns when the run has ended.
// Throws pgrace::Error (infrastructure) when a connection cannot be opened,
// the control connection breaks, or a cancelled step does not end; a
// session's connection breaking is reported as the tester reports it.
SpecRun run_spec(const Spec& spec, const std::vector<Permutation>& permutations, const std::string& dsn,
                 Transcript& transcript, const TranscriptSink& sink, const RunLimits& limits);

}  // namespace pgrace::spec
