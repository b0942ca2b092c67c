// The anomaly matrix: the ten anomalies Hermitage tests on PostgreSQL, each
// as an interleave scenario with Hermitage's schedule, run at READ
// COMMITTED, REPEATABLE READ and SERIALIZABLE (one registered scenario per
// cell: hermitage.<anomaly>.<level>). Each invariant is violated exactly when
// the anomaly occurs: where Hermitage reads a value, the step records it;
// where the anomaly would be invisible in the data (P4, G2-item, G2), the
// writes depend on what was read, as application code's do.
//
// Table: test(id, value) = (1, 10), (2, 20); every session starts with BEGIN.

#include <pqxx/pqxx>

#include "embedded_sql.hpp"
#include "pgrace/scenario.hpp"

namespace pgrace::scenarios {
namespace {

struct Anomaly {
  std::string id;     // "g_single": the scenario name part
  std::string title;  // "G-single": the matrix row
  std::string what;   // one sentence: the anomaly and how the invariant sees it
  std::vector<Session> sessions;
  std::vector<std::string> schedule;
  std::vector<Invariant> invariants;
  std::set<Isolation> allowed_at;  // where PostgreSQL lets it happen (Hermitage)
};

Session session(const std::string& name, std::vector<Step> steps) { return Session{name, "BEGIN", std::move(steps)}; }

Step update(const std::string& name, int id, int value) {
  return sql_step(name, "UPDATE test SET value = " + std::to_string(value) + " WHERE id = " + std::to_string(id));
}
Step read(const std::string& name, int id) {
  return sql_step(name, "SELECT value FROM test WHERE id = " + std::to_string(id));
}

// A predicate over the observations: `good` says whether they show no anomaly.
Invariant observed_that(std::string name, std::function<bool(const CheckContext&)> good,
                        std::vector<std::string> shown) {
  return predicate(
      std::move(name),
      [good, shown](const CheckContext& c) -> std::vector<std::string> {
        if (good(c)) return {};
        std::string witness;
        for (const auto& step : shown) witness += (witness.empty() ? "" : " ") + step + "=" + c.observed(step);
        return {witness};
      },
      /*during_run=*/false);
}

bool failed(const CheckContext& c, const std::string& step) { return c.observed(step).rfind("error:", 0) == 0; }

std::vector<Anomaly> anomalies() {
  const std::set<Isolation> rc = {Isolation::read_committed};
  const std::set<Isolation> rc_rr = {Isolation::read_committed, Isolation::repeatable_read};
  std::vector<Anomaly> all;

  all.push_back({"g0",
                 "G0",
                 "Write cycles: T1's and T2's writes to two rows interleave, so the final rows "
                 "come from different transactions.",
                 {session("T1", {update("w1a", 1, 11), update("w1b", 2, 21), sql_step("c1", "COMMIT")}),
                  session("T2", {update("w2a", 1, 12), update("w2b", 2, 22), sql_step("c2", "COMMIT")})},
                 {"w1a", "w2a", "w1b", "c1", "w2b", "c2"},
                 {no_rows("both rows were written by the same transaction",
                          "SELECT a.value AS x, b.value AS y FROM test a JOIN test b ON a.id = 1 AND b.id = 2 "
                          "WHERE (a.value, b.value) NOT IN ((11, 21), (12, 22))")},
                 {}});

  all.push_back(
      {"g1a",
       "G1a",
       "Aborted read: T2 reads a value T1 wrote and then rolled back.",
       {session("T1", {update("w1", 1, 101), sql_step("a1", "ROLLBACK")}),
        session("T2", {read("r2a", 1), read("r2b", 1), sql_step("c2", "COMMIT")})},
       {"w1", "r2a", "a1", "r2b", "c2"},
       {observed_that("T2 never reads an aborted write",
                      [](const CheckContext& c) { return c.observed("r2a") != "101" && c.observed("r2b") != "101"; },
                      {"r2a", "r2b"})},
       {}});

  all.push_back(
      {"g1b",
       "G1b",
       "Intermediate read: T2 reads a value T1 overwrote before committing.",
       {session("T1", {update("w1a", 1, 101), update("w1b", 1, 11), sql_step("c1", "COMMIT")}),
        session("T2", {read("r2a", 1), read("r2b", 1), sql_step("c2", "COMMIT")})},
       {"w1a", "r2a", "w1b", "c1", "r2b", "c2"},
       {observed_that("T2 never reads an intermediate value",
                      [](const CheckContext& c) { return c.observed("r2a") != "101" && c.observed("r2b") != "101"; },
                      {"r2a", "r2b"})},
       {}});

  all.push_back(
      {"g1c",
       "G1c",
       "Circular information flow: each transaction reads the other's uncommitted write.",
       {session("T1", {update("w1", 1, 11), read("r1", 2), sql_step("c1", "COMMIT")}),
        session("T2", {update("w2", 2, 22), read("r2", 1), sql_step("c2", "COMMIT")})},
       {"w1", "w2", "r1", "r2", "c1", "c2"},
       {observed_that("neither reads the other's uncommitted write",
                      [](const CheckContext& c) { return c.observed("r1") == "20" && c.observed("r2") == "10"; },
                      {"r1", "r2"})},
       {}});

  all.push_back(
      {"otv",
       "OTV",
       "Observed transaction vanishes: T3 sees T2's write to one row and then T1's "
       "overwritten value of the other.",
       {session("T1", {update("w1a", 1, 11), update("w1b", 2, 19), sql_step("c1", "COMMIT")}),
        session("T2", {update("w2a", 1, 12), update("w2b", 2, 18), sql_step("c2", "COMMIT")}),
        session("T3", {read("r3a", 1), read("r3b", 2), read("r3c", 2), read("r3d", 1), sql_step("c3", "COMMIT")})},
       {"w1a", "w1b", "w2a", "c1", "r3a", "w2b", "r3b", "c2", "r3c", "r3d", "c3"},
       {observed_that("T3's last reads come from one committed state",
                      [](const CheckContext& c) {
                        const auto y = c.observed("r3c"), x = c.observed("r3d");
                        return (y == "18" && x == "12") || (y == "19" && x == "11");
                      },
                      {"r3a", "r3b", "r3c", "r3d"})},
       {}});

  all.push_back(
      {"pmp",
       "PMP",
       "Predicate-many-preceders: T1's two predicate reads disagree because T2 "
       "inserted a matching row in between.",
       {session("T1", {sql_step("r1a", "SELECT id FROM test WHERE value = 30"),
                       sql_step("r1b", "SELECT id FROM test WHERE value % 3 = 0"), sql_step("c1", "COMMIT")}),
        session("T2", {sql_step("i2", "INSERT INTO test VALUES (3, 30)"), sql_step("c2", "COMMIT")})},
       {"r1a", "i2", "c2", "r1b", "c1"},
       {observed_that("T1's predicate reads agree",
                      [](const CheckContext& c) { return c.observed("r1a") == c.observed("r1b"); }, {"r1a", "r1b"})},
       rc});

  auto increment = [](const std::string& name, const std::string& read_step) {
    return cpp_step(name, [read_step](StepContext& ctx) {
      ctx.exec("UPDATE test SET value = " + std::to_string(std::stol(ctx.observed(read_step)) + 1) + " WHERE id = 1");
    });
  };
  all.push_back({"p4",
                 "P4",
                 "Lost update: both read 10 and write read+1; one increment disappears.",
                 {session("T1", {read("r1", 1), increment("w1", "r1"), sql_step("c1", "COMMIT")}),
                  session("T2", {read("r2", 1), increment("w2", "r2"), sql_step("c2", "COMMIT")})},
                 {"r1", "r2", "w1", "w2", "c1", "c2"},
                 {predicate(
                     "no committed increment is lost",
                     [](const CheckContext& c) -> std::vector<std::string> {
                       const long value = c.tx.exec("SELECT value FROM test WHERE id = 1")[0][0].as<long>();
                       long committed = 0;
                       for (auto [w, cm] : {std::pair{"w1", "c1"}, std::pair{"w2", "c2"}})
                         committed += !failed(c, w) && !failed(c, cm);
                       if (value == 10 + committed) return {};
                       return {"value=" + std::to_string(value) + " after " + std::to_string(committed) +
                               " committed increments of 10"};
                     },
                     false)},
                 rc});

  all.push_back({"g_single",
                 "G-single",
                 "Read skew: T1 reads row 1 before T2's commit and row 2 after it.",
                 {session("T1", {read("r1x", 1), read("r1y", 2), sql_step("c1", "COMMIT")}),
                  session("T2", {read("r2x", 1), read("r2y", 2), update("w2x", 1, 12), update("w2y", 2, 18),
                                 sql_step("c2", "COMMIT")})},
                 {"r1x", "r2x", "r2y", "w2x", "w2y", "c2", "r1y", "c1"},
                 {observed_that("T1 reads one consistent state (x + y = 30)",
                                [](const CheckContext& c) {
                                  return std::stol(c.observed("r1x")) + std::stol(c.observed("r1y")) == 30;
                                },
                                {"r1x", "r1y"})},
                 rc});

  auto guarded_write = [](const std::string& name, const std::string& read_step, int id, int value) {
    return cpp_step(name, [=](StepContext& ctx) {
      if (ctx.observed(read_step) == "30")
        ctx.exec("UPDATE test SET value = " + std::to_string(value) + " WHERE id = " + std::to_string(id));
    });
  };
  all.push_back(
      {"g2_item",
       "G2-item",
       "Write skew: both read sum 30 and each, seeing it unchanged, updates "
       "a different row; serially the second would have seen 31 and not written.",
       {session("T1", {sql_step("r1", "SELECT sum(value) FROM test WHERE id IN (1, 2)"),
                       guarded_write("w1", "r1", 1, 11), sql_step("c1", "COMMIT")}),
        session("T2", {sql_step("r2", "SELECT sum(value) FROM test WHERE id IN (1, 2)"),
                       guarded_write("w2", "r2", 2, 21), sql_step("c2", "COMMIT")})},
       {"r1", "r2", "w1", "w2", "c1", "c2"},
       {no_rows("at most one guarded update commits", "SELECT sum(value) AS total FROM test HAVING sum(value) > 31")},
       rc_rr});

  auto guarded_insert = [](const std::string& name, const std::string& read_step, int id, int value) {
    return cpp_step(name, [=](StepContext& ctx) {
      if (ctx.observed(read_step).empty())
        ctx.exec("INSERT INTO test VALUES (" + std::to_string(id) + ", " + std::to_string(value) + ")");
    });
  };
  all.push_back({"g2",
                 "G2",
                 "Anti-dependency cycle on a predicate: both find no multiple of 3 and each "
                 "inserts one; serially the second would have found the first's.",
                 {session("T1", {sql_step("r1", "SELECT id FROM test WHERE value % 3 = 0"),
                                 guarded_insert("i1", "r1", 3, 30), sql_step("c1", "COMMIT")}),
                  session("T2", {sql_step("r2", "SELECT id FROM test WHERE value % 3 = 0"),
                                 guarded_insert("i2", "r2", 4, 42), sql_step("c2", "COMMIT")})},
                 {"r1", "r2", "i1", "i2", "c1", "c2"},
                 {no_rows("at most one multiple of 3 is inserted",
                          "SELECT count(*) AS multiples FROM test WHERE value % 3 = 0 HAVING count(*) > 1")},
                 rc_rr});
  return all;
}

const char* level_name(Isolation level) {
  switch (level) {
    case Isolation::read_committed:
      return "read_committed";
    case Isolation::repeatable_read:
      return "repeatable_read";
    case Isolation::serializable:
      return "serializable";
  }
  return "";
}

class HermitageScenario : public Scenario {
 public:
  explicit HermitageScenario(Anomaly anomaly) : anomaly_(std::move(anomaly)) {}
  std::string schema() const override { return embedded_sql("hermitage.sql"); }
  void seed(pqxx::work& tx) override { tx.exec("INSERT INTO test (id, value) VALUES (1, 10), (2, 20)"); }
  std::vector<Session> sessions() const override { return anomaly_.sessions; }
  std::vector<std::vector<std::string>> schedules() const override { return {anomaly_.schedule}; }
  std::vector<Invariant> invariants() const override { return anomaly_.invariants; }

 private:
  Anomaly anomaly_;
};

[[maybe_unused]] const bool registered = [] {
  int row = 0;
  for (const Anomaly& anomaly : anomalies()) {
    ++row;
    for (Isolation level : {Isolation::read_committed, Isolation::repeatable_read, Isolation::serializable}) {
      const bool occurs = anomaly.allowed_at.count(level) > 0;
      ScenarioInfo info;
      info.name = "hermitage." + anomaly.id + "." + level_name(level);
      info.description = anomaly.title + " at " + to_sql(level) + ": " + anomaly.what + " PostgreSQL " +
                         (occurs ? "allows" : "prevents") + " it at this level (Hermitage).";
      std::set<std::string> invariant_names;
      for (const auto& invariant : anomaly.invariants) invariant_names.insert(invariant.name);
      info.expectation = occurs ? expect_violation(invariant_names) : expect_hold();
      info.defaults.isolation = level;
      info.labels = {{"anomaly", anomaly.title}, {"level", to_sql(level)}, {"row", std::to_string(row)}};
      register_scenario({info, [anomaly](Options&) -> std::unique_ptr<Scenario> {
                           return std::make_unique<HermitageScenario>(anomaly);
                         }});
    }
  }
  return true;
}();

}  // namespace
}  // namespace pgrace::scenarios
