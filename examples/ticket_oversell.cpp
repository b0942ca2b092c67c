// A scenario of a user's own: selling seats for a concert. Each booking
// counts the seats sold and inserts a booking if one is left. At READ
// COMMITTED two buyers can both see the last seat free and both book it: the
// concert is oversold. Invariant: no event has more bookings than seats.

#include <chrono>
#include <pgrace/scenario.hpp>
#include <pqxx/pqxx>
#include <thread>

namespace {

class TicketOversell : public pgrace::Scenario {
 public:
  static pgrace::ScenarioInfo info() {
    pgrace::Knobs knobs;
    knobs.threads = 8;
    knobs.iterations = 5;
    return {"example.ticket_oversell",
            "Counts the bookings, then inserts one if a seat is left. Concurrent buyers see the same "
            "count and all book the last seat, violating \"no event is oversold\".",
            pgrace::expect_violation({"no event is oversold"}), knobs};
  }

  explicit TicketOversell(pgrace::Options& options)
      : seats_(options.get_int("seats", 3)), think_us_(options.get_int("think_us", 500)) {}

  std::string schema() const override {
    return "CREATE TABLE events (id int PRIMARY KEY, seats int NOT NULL);"
           "CREATE TABLE bookings (id serial PRIMARY KEY, event int NOT NULL REFERENCES events, buyer int);";
  }

  void seed(pqxx::work& tx) override { tx.exec_params("INSERT INTO events VALUES (1, $1)", seats_); }

  pgrace::TxResult transaction(pgrace::Worker& w) override {
    pqxx::work tx(w.connection());
    const long sold = tx.exec("SELECT count(*) FROM bookings WHERE event = 1")[0][0].as<long>();
    const long seats = tx.exec("SELECT seats FROM events WHERE id = 1")[0][0].as<long>();
    if (sold >= seats) return pgrace::TxResult::rejected;
    std::this_thread::sleep_for(std::chrono::microseconds(think_us_));  // the app's work: the race window
    tx.exec_params("INSERT INTO bookings (event, buyer) VALUES (1, $1)", w.index());
    tx.commit();
    return pgrace::TxResult::committed;
  }

  std::vector<pgrace::Invariant> invariants() const override {
    return {pgrace::no_rows("no event is oversold",
                           "SELECT e.id, e.seats, count(b.id) AS sold FROM events e JOIN bookings b ON b.event = e.id "
                           "GROUP BY e.id, e.seats HAVING count(b.id) > e.seats")};
  }

 private:
  long seats_, think_us_;
};

}  // namespace

PGRACE_REGISTER_SCENARIO(TicketOversell);
