#include "spec/runner.hpp"

#include <algorithm>
#include <memory>
#include <optional>

#include "core/lock_wait.hpp"
#include "pgrace/error.hpp"
#include "spec/connection.hpp"

namespace pgrace::spec {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds kPollInterval{10};  // the tester checks for lock waits every 10 ms
const char* const kWaitQuery = "pgrace_spec_waiting";

// How try_complete waits (the tester's STEP_NONBLOCK and STEP_RETRY).
enum WaitFlags : unsigned {
  kNonBlock = 1,  // return once the step is seen waiting for a lock
  kRetry = 2,     // the step was sent earlier and already reported waiting
};

// A permutation step that has been (or will be) sent.
struct Running {
  const PermutationStep* step = nullptr;
  StepRef ref;
  std::vector<int> target_notices;  // per blocker: the notice count that releases a `notices` marker
};

struct SessionLink {
  std::unique_ptr<SpecConnection> connection;
  int notices = 0;            // notices received so far
  Running* active = nullptr;  // the step sent and not yet completed
};

// When a step has run too long: cancelled once, given up on at twice the limit.
struct StepTimer {
  Clock::time_point start = Clock::now();
  bool canceled = false;
};

ResultSet to_result_set(const PGresult& result) {
  ResultSet rows;
  const int columns = PQnfields(&result);
  for (int c = 0; c < columns; ++c) rows.columns.emplace_back(PQfname(&result, c));
  for (int r = 0; r < PQntuples(&result); ++r) {
    std::vector<std::string> row;
    for (int c = 0; c < columns; ++c) row.emplace_back(PQgetvalue(&result, r, c));  // "" for NULL
    rows.rows.push_back(std::move(row));
  }
  return rows;
}

// The error as the tester prints it: severity and primary message, or
// libpq's whole message (with its newline) when it has no fields.
SqlError to_sql_error(const PGresult& result) {
  const char* severity = PQresultErrorField(&result, PG_DIAG_SEVERITY);
  const char* message = PQresultErrorField(&result, PG_DIAG_MESSAGE_PRIMARY);
  if (severity && message) return {severity, message};
  return {"", PQresultErrorMessage(&result)};
}

// COPY cannot be served: ends it so that the connection is usable again.
void end_copy(PGconn* connection, ExecStatusType status) {
  if (status == PGRES_COPY_IN) PQputCopyEnd(connection, "pgrace spec does not supply COPY FROM STDIN data");
  if (status != PGRES_COPY_OUT) return;
  char* row = nullptr;
  while (PQgetCopyData(connection, &row, 0) > 0) PQfreemem(row);
}

// What the tester prints for a step's result; nothing for a command.
std::optional<StepResult> to_step_result(PGconn* connection, const PGresult& result) {
  const ExecStatusType status = PQresultStatus(&result);
  switch (status) {
    case PGRES_COMMAND_OK:
    case PGRES_EMPTY_QUERY:
      return std::nullopt;
    case PGRES_TUPLES_OK:
      return to_result_set(result);
    case PGRES_FATAL_ERROR:
      return to_sql_error(result);
    default:
      end_copy(connection, status);
      return SqlError{"", std::string("unexpected result status: ") + PQresStatus(status)};
  }
}

// What the tester's blocking PQgetResult returns when the connection breaks
// under it: libpq's error result. Here PQconsumeInput met the break first and
// closed the socket, so PQgetResult also complains of the closed socket: that
// addition to libpq's error text is cut off the result.
std::optional<StepResult> result_after_loss(PGconn* connection) {
  const std::string before = PQerrorMessage(connection);
  const PgResult result(PQgetResult(connection), &PQclear);
  if (!result) return std::nullopt;
  std::optional<StepResult> printed = to_step_result(connection, *result);
  const std::string after = PQerrorMessage(connection);
  auto* error = printed ? std::get_if<SqlError>(&*printed) : nullptr;
  if (error && after.size() > before.size() && after.compare(0, before.size(), before) == 0) {
    const std::string added = after.substr(before.size());
    std::string& message = error->message;
    if (message.size() >= added.size() && message.compare(message.size() - added.size(), added.size(), added) == 0)
      message.erase(message.size() - added.size());
  }
  return printed;
}

int whole_seconds(Clock::duration elapsed) {
  return static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(elapsed).count());
}

// The tester exits here: the permutation ends with `end`.
struct Stopped {
  RunEnd end;
};

class Engine {
 public:
  Engine(const Spec& spec, const std::string& dsn, Transcript& transcript, const TranscriptSink& sink,
         const RunLimits& limits);
  RunEnd run(const Permutation& permutation);
  const std::vector<std::string>& canceled() const { return canceled_; }

 private:
  RunEnd run_steps(const Permutation& permutation);
  void connect(const std::string& dsn);
  void prepare_wait_query();
  void record(const Event& event);
  std::vector<Running> resolve(const Permutation& permutation) const;
  bool run_block(SpecConnection& connection, const std::string& sql, Block block, const std::string& session);
  bool run_setups();
  void run_teardowns();
  bool finish_session(SessionLink& link, std::vector<Running*>& waiting);
  void report_stuck(const Running& earlier, Clock::duration waited);
  void send(Running& running);
  bool try_complete(Running& running, unsigned flags);
  void try_complete_all(std::vector<Running*>& waiting, unsigned flags);
  bool report_waiting(const Running& running, unsigned flags);
  bool blocked_on_lock(const SessionLink& link);
  bool held_by_marker(const Running& running) const;
  void read_input(const SessionLink& link);
  void enforce_timeout(const Running& running, StepTimer& timer);
  bool await_result(const Running& running, StepTimer& timer);
  void complete(Running& running, StepTimer& timer);
  void report_notifies(const Running& running);
  SessionLink& link_of(const Running& running) { return sessions_[running.ref.session]; }
  const std::string& name_of(const Running& running) const { return running.step->name; }

  const Spec& spec_;
  Transcript& transcript_;
  const TranscriptSink& sink_;
  RunLimits limits_;
  std::unique_ptr<SpecConnection> control_;
  std::vector<SessionLink> sessions_;
  std::string all_pids_;  // every session's backend, as the lock-wait probe's $2 (the tester asks about all)
  bool any_new_notice_ = false;
  std::vector<std::string> canceled_;
};

Engine::Engine(const Spec& spec, const std::string& dsn, Transcript& transcript, const TranscriptSink& sink,
               const RunLimits& limits)
    : spec_(spec), transcript_(transcript), sink_(sink), limits_(limits) {
  connect(dsn);
  prepare_wait_query();
}

void Engine::connect(const std::string& dsn) {
  control_ = std::make_unique<SpecConnection>(dsn, "control connection", SpecConnection::NoticeHandler{});
  sessions_.resize(spec_.sessions.size());
  for (std::size_t s = 0; s < spec_.sessions.size(); ++s) {
    const std::string& name = spec_.sessions[s].name;
    sessions_[s].connection = std::make_unique<SpecConnection>(dsn, name, [this, s, name](const std::string& text) {
      ++sessions_[s].notices;
      any_new_notice_ = true;
      record(event::Notice{name, text});
    });
  }
}

// The lock-wait probe (core/lock_wait.hpp) about every session's pid, as the tester asks it.
void Engine::prepare_wait_query() {
  std::vector<int> pids;
  for (const SessionLink& link : sessions_) pids.push_back(link.connection->pid());
  all_pids_ = detail::pid_array(pids);
  PgResult result(PQprepare(control_->get(), kWaitQuery, detail::kLockWaitQuery, 0, nullptr), &PQclear);
  if (PQresultStatus(result.get()) != PGRES_COMMAND_OK)
    throw infrastructure_error("cannot prepare the lock wait query: " + one_line(PQerrorMessage(control_->get())) +
                               " (pgrace spec needs PostgreSQL 12 or later)");
}

void Engine::record(const Event& event) {
  const std::string text = transcript_.record(event);
  if (sink_) sink_(text);
}

std::vector<Running> Engine::resolve(const Permutation& permutation) const {
  std::vector<Running> steps;
  for (const PermutationStep& step : permutation.steps) steps.push_back({&step, locate_step(spec_, step.name), {}});
  return steps;
}

RunEnd Engine::run(const Permutation& permutation) {
  try {
    return run_steps(permutation);
  } catch (const Stopped& stopped) {
    return stopped.end;
  }
}

RunEnd Engine::run_steps(const Permutation& permutation) {
  std::vector<Running> steps = resolve(permutation);
  event::PermutationStarted started;
  for (const PermutationStep& step : permutation.steps) started.steps.push_back(step.name);
  record(started);
  if (!run_setups()) return RunEnd::setup_failed;
  std::vector<Running*> waiting;
  for (Running& running : steps) {
    if (!finish_session(link_of(running), waiting)) return RunEnd::session_stuck;
    send(running);
    const bool must_wait = try_complete(running, kNonBlock);
    try_complete_all(waiting, kNonBlock | kRetry);
    if (must_wait) waiting.push_back(&running);
  }
  try_complete_all(waiting, kRetry);
  if (!waiting.empty()) {
    record(event::MutuallyBlocked{});
    return RunEnd::mutually_blocked;
  }
  run_teardowns();
  return RunEnd::completed;
}

// PQexec, as the tester runs setup and teardown blocks: the last result's
// rows are printed, a failure reported with libpq's whole message.
bool Engine::run_block(SpecConnection& connection, const std::string& sql, Block block, const std::string& session) {
  const PgResult result = connection.exec(sql);
  const ExecStatusType status = PQresultStatus(result.get());
  if (status == PGRES_TUPLES_OK) record(event::BlockRows{to_result_set(*result)});
  if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) return true;
  record(event::BlockFailed{block, session, PQerrorMessage(connection.get())});
  return false;
}

bool Engine::run_setups() {
  for (const std::string& sql : spec_.setup_sql)
    if (!run_block(*control_, sql, Block::setup, "")) return false;
  for (std::size_t s = 0; s < spec_.sessions.size(); ++s) {
    const Session& session = spec_.sessions[s];
    if (session.setup_sql &&
        !run_block(*sessions_[s].connection, *session.setup_sql, Block::session_setup, session.name))
      return false;
  }
  return true;
}

void Engine::run_teardowns() {
  for (std::size_t s = 0; s < spec_.sessions.size(); ++s) {
    const Session& session = spec_.sessions[s];
    if (session.teardown_sql)
      run_block(*sessions_[s].connection, *session.teardown_sql, Block::session_teardown, session.name);
  }
  if (spec_.teardown_sql) run_block(*control_, *spec_.teardown_sql, Block::teardown, "");
}

// The next step's session is still busy with a step seen waiting: wait for
// it, polling the other waiting steps (one of them may be what it waits for).
// Returns false, reported, when it is still busy after twice the step timeout.
bool Engine::finish_session(SessionLink& link, std::vector<Running*>& waiting) {
  const auto start = Clock::now();
  while (link.active) {
    Running* earlier = link.active;
    if (!try_complete(*earlier, kRetry)) waiting.erase(std::find(waiting.begin(), waiting.end(), earlier));
    try_complete_all(waiting, kNonBlock | kRetry);
    if (link.active && Clock::now() - start > 2 * limits_.step_timeout) {
      report_stuck(*link.active, Clock::now() - start);
      return false;
    }
  }
  return true;
}

void Engine::report_stuck(const Running& earlier, Clock::duration waited) {
  event::SessionStuck stuck{name_of(earlier), whole_seconds(waited), {}};
  for (const SessionLink& other : sessions_)
    if (other.active) stuck.active.push_back(name_of(*other.active));
  record(stuck);
}

void Engine::send(Running& running) {
  SessionLink& link = link_of(running);
  if (!link.connection->send(spec_.sessions[running.ref.session].steps[running.ref.step].sql)) {
    record(event::SendFailed{name_of(running), PQerrorMessage(link.connection->get())});
    throw Stopped{RunEnd::connection_lost};
  }
  link.active = &running;
  for (const Blocker& blocker : running.step->blockers) {
    const int base =
        blocker.kind == BlockerKind::notices ? sessions_[locate_step(spec_, blocker.step).session].notices : 0;
    running.target_notices.push_back(base + blocker.notices);
  }
}

// Waits for `running` to complete (and reports it) or, with kNonBlock, to be
// seen waiting for a lock. Returns whether it is (still) waiting.
bool Engine::try_complete(Running& running, unsigned flags) {
  const auto& blockers = running.step->blockers;
  const bool once =
      std::any_of(blockers.begin(), blockers.end(), [](const Blocker& b) { return b.kind == BlockerKind::once; });
  if (once && !(flags & kRetry)) return report_waiting(running, flags);
  SessionLink& link = link_of(running);
  PGconn* connection = link.connection->get();
  StepTimer timer;
  while (PQisBusy(connection)) {
    if (link.connection->wait_readable(kPollInterval)) {
      read_input(link);
      continue;
    }
    if ((flags & kNonBlock) && blocked_on_lock(link)) {
      read_input(link);  // notices may have come while we asked
      if (!PQisBusy(connection)) break;
      return report_waiting(running, flags);
    }
    enforce_timeout(running, timer);
  }
  if (held_by_marker(running)) return report_waiting(running, flags);
  complete(running, timer);
  return false;
}

// Polls every waiting step; again while markers may have been released by
// completions or notices of this round.
void Engine::try_complete_all(std::vector<Running*>& waiting, unsigned flags) {
  std::size_t before = 0;
  bool markers = false;
  do {
    any_new_notice_ = false;
    before = waiting.size();
    markers = false;
    for (auto it = waiting.begin(); it != waiting.end();) {
      if (try_complete(**it, flags)) {
        markers = markers || !(*it)->step->blockers.empty();
        ++it;
      } else {
        it = waiting.erase(it);
      }
    }
  } while (markers && (waiting.size() < before || any_new_notice_));
}

// The step waits; reported the first time only.
bool Engine::report_waiting(const Running& running, unsigned flags) {
  if (!(flags & kRetry)) record(event::StepWaiting{name_of(running)});
  return true;
}

bool Engine::blocked_on_lock(const SessionLink& link) {
  const std::string pid = std::to_string(link.connection->pid());
  const char* const values[] = {pid.c_str(), all_pids_.c_str()};
  const PgResult result(PQexecPrepared(control_->get(), kWaitQuery, 2, values, nullptr, nullptr, 0), &PQclear);
  if (PQresultStatus(result.get()) != PGRES_TUPLES_OK || PQntuples(result.get()) != 1)
    throw control_->lost("asking whether " + link.connection->name() + " waits for a lock");
  return PQgetvalue(result.get(), 0, 0)[0] == 't';
}

// Whether a marker still holds the completed step's report back.
bool Engine::held_by_marker(const Running& running) const {
  const auto& blockers = running.step->blockers;
  for (std::size_t b = 0; b < blockers.size(); ++b) {
    if (blockers[b].kind == BlockerKind::once) continue;
    const SessionLink& other = sessions_[locate_step(spec_, blockers[b].step).session];
    if (blockers[b].kind == BlockerKind::step && other.active && other.active->step->name == blockers[b].step)
      return true;
    if (blockers[b].kind == BlockerKind::notices && other.notices < running.target_notices[b]) return true;
  }
  return false;
}

// PQconsumeInput on a running step's connection. When it fails (the
// connection broke before a complete reply), the tester reports it and exits.
void Engine::read_input(const SessionLink& link) {
  if (link.connection->consume_input()) return;
  record(event::InputFailed{PQerrorMessage(link.connection->get())});
  throw Stopped{RunEnd::connection_lost};
}

void Engine::enforce_timeout(const Running& running, StepTimer& timer) {
  const auto elapsed = Clock::now() - timer.start;
  if (elapsed > limits_.step_timeout && !timer.canceled && link_of(running).connection->cancel()) {
    timer.canceled = true;
    canceled_.push_back(name_of(running));
    record(event::StepCanceled{name_of(running), whole_seconds(elapsed)});
  }
  if (elapsed > 2 * limits_.step_timeout)
    throw infrastructure_error(spec_.file + ": step " + name_of(running) + " still runs " +
                               std::to_string(whole_seconds(elapsed)) +
                               " s after it started, though it was cancelled: the server does not respond");
}

// Waits until PQgetResult would not block, without waiting forever: a later
// statement of the step may still run (or wait for a lock). False when the
// connection broke meanwhile.
bool Engine::await_result(const Running& running, StepTimer& timer) {
  SpecConnection& connection = *link_of(running).connection;
  while (PQisBusy(connection.get())) {
    if (!connection.wait_readable(kPollInterval))
      enforce_timeout(running, timer);
    else if (!connection.consume_input())
      return false;
  }
  return true;
}

// Reports the step's results as the tester's PQgetResult loop reads them.
void Engine::complete(Running& running, StepTimer& timer) {
  record(event::StepCompleted{name_of(running), {}});
  PGconn* connection = link_of(running).connection->get();
  for (;;) {
    std::optional<StepResult> printed;
    if (await_result(running, timer)) {
      const PgResult result(PQgetResult(connection), &PQclear);
      if (!result) break;
      printed = to_step_result(connection, *result);
    } else {
      printed = result_after_loss(connection);  // libpq is idle then: the next PQgetResult gives none
    }
    if (printed) record(event::StepOutput{{*printed}});
  }
  report_notifies(running);
  link_of(running).active = nullptr;
}

void Engine::report_notifies(const Running& running) {
  SpecConnection& connection = *link_of(running).connection;
  PQconsumeInput(connection.get());
  while (PGnotify* notify = PQnotifies(connection.get())) {
    std::string sender = "PID " + std::to_string(notify->be_pid);
    for (std::size_t s = 0; s < sessions_.size(); ++s)
      if (sessions_[s].connection->pid() == notify->be_pid) sender = spec_.sessions[s].name;
    record(event::Notify{spec_.sessions[running.ref.session].name, notify->relname, notify->extra, sender});
    PQfreemem(notify);
    PQconsumeInput(connection.get());
  }
}

}  // namespace

SpecRun run_spec(const Spec& spec, const std::vector<Permutation>& permutations, const std::string& dsn,
                 Transcript& transcript, const TranscriptSink& sink, const RunLimits& limits) {
  Engine engine(spec, dsn, transcript, sink, limits);
  SpecRun run;
  for (const Permutation& permutation : permutations) {
    run.end = engine.run(permutation);
    if (run.end != RunEnd::completed) break;
  }
  run.canceled_steps = engine.canceled();
  return run;
}

}  // namespace pgrace::spec
