// The grammar of isolation spec files (see spec.hpp) and the checks the
// isolationtester makes before it runs anything.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <map>
#include <utility>

#include "pgrace/error.hpp"
#include "server/unique_fd.hpp"
#include "spec/scanner.hpp"
#include "spec/spec.hpp"

namespace pgrace::spec {
namespace {

using detail::Lexeme;
using detail::Scanner;
using detail::Token;

class Parser {
 public:
  Parser(const std::string& text, const std::string& file) : scanner_(text, file), file_(file) {
    look_ = scanner_.next();
  }

  Spec parse() {
    Spec spec;
    spec.file = file_;
    while (at(Token::kw_setup)) spec.setup_sql.push_back(block());
    if (at(Token::kw_teardown)) spec.teardown_sql = block();
    if (!at(Token::kw_session)) {
      fail_expected(spec.teardown_sql ? "\"session\"" : "\"setup\", \"teardown\" or \"session\"",
                    " (a spec needs at least one session)");
    }
    while (at(Token::kw_session)) spec.sessions.push_back(session());
    while (at(Token::kw_permutation)) spec.permutations.push_back(permutation());
    if (!at(Token::end)) trailing(spec);
    check(spec);
    return spec;
  }

 private:
  bool at(Token kind) const { return look_.kind == kind; }

  Lexeme take() {
    Lexeme taken = std::move(look_);
    look_ = scanner_.next();
    return taken;
  }

  [[noreturn]] void fail_expected(const std::string& what, const std::string& hint = "") const {
    scanner_.fail(look_.at, "expected " + what + ", found " + describe(look_) + hint);
  }

  Lexeme expect(Token kind, const std::string& what) {
    if (!at(kind)) fail_expected(what);
    return take();
  }

  // `setup { SQL }` or `teardown { SQL }`: the SQL.
  std::string block() {
    const Lexeme keyword = take();
    return expect(Token::sql, "a { SQL } block after \"" + keyword.text + "\"").text;
  }

  Session session() {
    Session session;
    session.at = take().at;
    session.name = expect(Token::name, "a session name (an identifier or \"quoted\")").text;
    if (at(Token::kw_setup)) session.setup_sql = block();
    if (!at(Token::kw_step)) {
      fail_expected(session.setup_sql ? "\"step\"" : "\"setup\" or \"step\"",
                    " (session " + session.name + " needs at least one step)");
    }
    while (at(Token::kw_step)) session.steps.push_back(step());
    if (at(Token::kw_teardown)) session.teardown_sql = block();
    return session;
  }

  Step step() {
    Step step;
    step.at = take().at;
    step.name = expect(Token::name, "a step name (an identifier or \"quoted\")").text;
    step.sql = expect(Token::sql, "the { SQL } block of step " + step.name).text;
    return step;
  }

  Permutation permutation() {
    take();
    if (!at(Token::name)) fail_expected("a step name after \"permutation\"");
    Permutation permutation;
    while (at(Token::name)) permutation.steps.push_back(permutation_step());
    return permutation;
  }

  PermutationStep permutation_step() {
    const Lexeme name = take();
    PermutationStep step{name.text, {}, name.at};
    if (!at(Token::open_paren)) return step;
    take();
    step.blockers.push_back(blocker());
    while (at(Token::comma)) {
      take();
      step.blockers.push_back(blocker());
    }
    expect(Token::close_paren, "\",\" or \")\" in the markers of step " + step.name);
    return step;
  }

  Blocker blocker() {
    if (at(Token::star)) return {BlockerKind::once, "", 0, take().at};
    const Lexeme other = expect(Token::name, "a step name or * in a step's markers");
    if (!at(Token::kw_notices)) return {BlockerKind::step, other.text, 0, other.at};
    take();
    const Lexeme count = expect(Token::integer, "a number of notices after \"notices\"");
    constexpr auto kMax = std::numeric_limits<int>::max();
    if (count.text.size() > 10 || std::stoll(count.text) > kMax) {
      scanner_.fail(count.at, "notices count " + count.text + " is too large (at most " + std::to_string(kMax) + ")");
    }
    return {BlockerKind::notices, other.text, std::stoi(count.text), other.at};
  }

  [[noreturn]] void trailing(const Spec& spec) const {
    std::string hint;
    if (at(Token::kw_setup) || at(Token::kw_teardown)) {
      hint =
          " (a session's setup comes before its steps and its teardown after them; the spec's own setup and "
          "teardown come before the first session)";
    } else if (at(Token::kw_step)) {
      hint = " (a session's steps come before its teardown)";
    }
    fail_expected(
        spec.permutations.empty() ? "\"session\", \"permutation\" or end of file" : "\"permutation\" or end of file",
        hint);
  }

  // What the tester checks before it connects.
  void check(const Spec& spec) const {
    std::map<std::string, const Step*> steps;
    for (const Session& session : spec.sessions) {
      for (const Step& step : session.steps) {
        const auto [it, fresh] = steps.emplace(step.name, &step);
        if (!fresh) {
          scanner_.fail(step.at, "duplicate step name \"" + step.name + "\" (first defined at line " +
                                     std::to_string(it->second->at.line) + "); step names are unique across sessions");
        }
      }
    }
    for (const Permutation& permutation : spec.permutations) {
      for (const PermutationStep& step : permutation.steps) {
        if (steps.count(step.name) == 0) scanner_.fail(step.at, "undefined step \"" + step.name + "\" in permutation");
      }
      // Markers may name later steps of the permutation: all are defined now.
      for (const PermutationStep& step : permutation.steps) {
        for (const Blocker& blocker : step.blockers) check_blocker(spec, permutation, step, blocker);
      }
    }
  }

  void check_blocker(const Spec& spec, const Permutation& permutation, const PermutationStep& step,
                     const Blocker& blocker) const {
    if (blocker.kind == BlockerKind::once) return;
    bool in_permutation = false;
    for (const PermutationStep& other : permutation.steps)
      in_permutation = in_permutation || other.name == blocker.step;
    if (!in_permutation) {
      scanner_.fail(blocker.at, "marker of step \"" + step.name + "\" names \"" + blocker.step +
                                    "\", which is not a step of this permutation");
    }
    const std::size_t session = locate_step(spec, step.name).session;
    if (locate_step(spec, blocker.step).session == session) {
      scanner_.fail(blocker.at, "step \"" + step.name + "\" cannot wait for \"" + blocker.step +
                                    "\": both are steps of session " + spec.sessions[session].name);
    }
  }

  Scanner scanner_;
  std::string file_;
  Lexeme look_;  // the next lexeme, not yet taken
};

}  // namespace

Spec parse_spec(const std::string& text, const std::string& file) { return Parser(text, file).parse(); }

Spec load_spec(const std::string& path) { return parse_spec(read_input_file(path, "spec file"), path); }

std::string read_input_file(const std::string& path, const std::string& kind) {
  const std::string named = detail::printable(path) + ": ";
  // O_NONBLOCK: opening a FIFO without a writer returns at once (and is refused below).
  const pgrace::detail::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) != 0)
    throw usage_error(named + "cannot open the " + kind + ": " + std::strerror(errno) + "; check the path");
  if (!S_ISREG(st.st_mode)) {
    const char* what = S_ISDIR(st.st_mode)    ? "a directory"
                       : S_ISFIFO(st.st_mode) ? "a FIFO"
                       : S_ISSOCK(st.st_mode) ? "a socket"
                                              : "a device";
    const char* why = S_ISDIR(st.st_mode) ? "" : " (pgrace spec reads none: it could wait for a writer or never end)";
    throw usage_error(named + "is " + what + ", not a regular file; give the path of a regular " + kind + why);
  }
  std::string text;
  char buffer[65536];
  for (ssize_t got = 0; (got = ::read(fd.get(), buffer, sizeof buffer)) != 0;) {
    if (got > 0)
      text.append(buffer, static_cast<std::size_t>(got));
    else if (errno != EINTR)
      throw usage_error(named + "cannot read the " + kind + ": " + std::strerror(errno));
  }
  return text;
}

}  // namespace pgrace::spec
