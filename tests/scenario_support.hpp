#pragma once
// Helpers shared by the tests that run pgrace's registered (bundled)
// scenarios on a real server and read their results: finding a scenario by
// name, running it, counting outcomes, describing a result, joining a
// schedule's steps; and a counter invariant and the write-skew scenario
// (two doctors) of the tests' own.
// Header-only; everything is `inline`.

#include <stdexcept>
#include <string>
#include <vector>

#include "pgrace/invariant.hpp"
#include "pgrace/options.hpp"
#include "pgrace/outcome.hpp"
#include "pgrace/report.hpp"
#include "pgrace/result.hpp"
#include "pgrace/runner.hpp"
#include "pgrace/scenario.hpp"
#include "pgrace/server.hpp"
#include "pgrace/steps.hpp"

namespace pgrace::test {

// "every increment counts": the one value `sql` reads equals the number of
// transactions that committed (CheckContext::transactions); the witness
// says both ("v = 1 after 2 increments").
inline Invariant every_increment_counts(std::string sql) {
  return predicate(
      "every increment counts",
      [sql](const CheckContext& c) -> std::vector<std::string> {
        const long v = c.tx.exec1(sql)[0].as<long>();
        if (v == c.transactions) return {};
        return {"v = " + std::to_string(v) + " after " + std::to_string(c.transactions) + " increments"};
      },
      false);
}

// Two doctors on call; each, at REPEATABLE READ, reads how many are on call
// and, seeing two, takes themself off: write skew leaves nobody on call.
class Doctors : public Scenario {
 public:
  std::string schema() const override { return "CREATE TABLE doctors (name text PRIMARY KEY, on_call bool)"; }
  void seed(pqxx::work& tx) override { tx.exec("INSERT INTO doctors VALUES ('alice', true), ('bob', true)"); }
  std::vector<Session> sessions() const override { return {doctor("a", "alice"), doctor("b", "bob")}; }
  std::vector<Invariant> invariants() const override {
    return {equals("someone is on call", "SELECT count(*) > 0 FROM doctors WHERE on_call", "t")};
  }

 private:
  static Session doctor(const std::string& n, const std::string& name) {
    return {n,
            "BEGIN ISOLATION LEVEL REPEATABLE READ",
            {sql_step(n + "_read", "SELECT count(*) FROM doctors WHERE on_call"),
             cpp_step(n + "_write",
                      [n, name](StepContext& ctx) {
                        if (ctx.observed(n + "_read") == "2")
                          ctx.exec("UPDATE doctors SET on_call = false WHERE name = '" + name + "'");
                      }),
             sql_step(n + "_commit", "COMMIT")}};
  }
};

// The registered scenario named `name`. Throws std::runtime_error if there is none.
inline const ScenarioDefinition& definition(const std::string& name) {
  for (const auto& d : registered_scenarios())
    if (d.info.name == name) return d;
  throw std::runtime_error("scenario " + name + " is not registered");
}

// Runs the registered scenario `name`, made with the options `option_items`
// (NAME=VALUE each), on `server` with `settings`. Throws std::runtime_error
// if no scenario has that name, pgrace::Error for a bad option.
inline ScenarioResult run_registered(const Server& server, const std::string& name, const RunSettings& settings,
                                     const std::vector<std::string>& option_items = {}) {
  const auto& def = definition(name);
  Options options(option_items);
  auto scenario = make_scenario(def, options);
  return run_scenario(server, def.info, *scenario, settings);
}

// How many of `r`'s transactions ended as `kind` (0 if none did).
inline long outcome(const ScenarioResult& r, OutcomeClass kind) {
  auto it = r.outcomes.find(kind);
  return it == r.outcomes.end() ? 0 : it->second;
}

// `r`'s summary (pgrace::summary_text), followed by its error if it has one.
inline std::string summary_with_error(const ScenarioResult& r) {
  std::string text = summary_text(r);
  return r.error.empty() ? text : text + "error: " + r.error;
}

// `words` separated by single spaces (a schedule's steps, say).
inline std::string joined(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

}  // namespace pgrace::test
