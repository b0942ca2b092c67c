// The payment family: the retry logic that distributed-systems articles warn
// about, under a lost COMMIT. Each worker is a payment service charging
// customers' wallets, one charge request per iteration, each with its own
// request id. pgrace drops the connection after some COMMITs reached the
// server and before their reply reached the client (the ambiguous commit:
// Knobs::faults, drop_reply on COMMITs, drawn from the seed). The service
// cannot know whether the charge committed. Retrying it blindly charges the
// customer twice; retrying with the request id as an idempotency key, which
// a unique constraint enforces, charges once.

#include <pqxx/pqxx>
#include <string>

#include "pgrace/scenario.hpp"

namespace pgrace::scenarios {
namespace {

const char* const kChargedOnce = "each request charged once";
const char* const kBalancesMatch = "balances match the charges";
constexpr int kWallets = 4;
constexpr long kStartBalance = 1'000'000;
constexpr int kAttempts = 3;  // the service tries a charge this many times

Knobs payment_knobs() {
  Knobs knobs;
  knobs.threads = 4;
  knobs.iterations = 20;
  knobs.sync = Sync::start;
  // A third of the COMMITs lose their reply: of 80 charges, some on every
  // seed (the chance of none is 0.7^80, about 4e-13).
  knobs.faults = {FaultRule{FaultKind::drop_reply, FaultTarget::commit, 0.3, {}}};
  return knobs;
}

// The wallets and the ledger of charges. `unique_requests`: the ledger's
// request ids are unique (the idempotency key is enforced).
class Payments : public Scenario {
 public:
  Payments(Options& options, bool unique_requests)
      : amount_(options.get_int("amount", 10, 1, 1000)), unique_requests_(unique_requests) {}

  std::string schema() const override {
    return std::string(
               "CREATE TABLE wallets (id int PRIMARY KEY, balance bigint NOT NULL);"
               "CREATE TABLE charges (id bigserial PRIMARY KEY, request_id text NOT NULL") +
           (unique_requests_ ? " UNIQUE" : "") + ", wallet int NOT NULL REFERENCES wallets, amount bigint NOT NULL)";
  }

  void seed(pqxx::work& tx) override {
    tx.exec_params("INSERT INTO wallets SELECT g, $2 FROM generate_series(1, $1) g", kWallets, kStartBalance);
  }

  std::vector<Invariant> invariants() const override {
    return {no_rows(kChargedOnce,
                    "SELECT request_id, count(*) AS charges FROM charges GROUP BY request_id HAVING count(*) > 1"),
            no_rows(kBalancesMatch,
                    "SELECT w.id, w.balance, coalesce(sum(c.amount), 0) AS charged FROM wallets w "
                    "LEFT JOIN charges c ON c.wallet = w.id GROUP BY w.id, w.balance "
                    "HAVING w.balance <> " +
                        std::to_string(kStartBalance) + " - coalesce(sum(c.amount), 0)")};
  }

  // The service: a charge request, tried up to kAttempts times on any error
  // (a fresh connection each time, as a pool would hand out).
  TxResult transaction(Worker& w) override {
    const std::string request = "w" + std::to_string(w.index()) + "-" + std::to_string(w.iteration());
    const int wallet = static_cast<int>(w.uniform(1, kWallets));
    for (int attempt = 1;; ++attempt) {
      try {
        charge(w.connection(), request, wallet);
        return TxResult::committed;
      } catch (const std::exception&) {
        if (attempt == kAttempts) throw;
      }
    }
  }

 protected:
  // One attempt at the charge, in one transaction.
  virtual void charge(pqxx::connection& c, const std::string& request, int wallet) = 0;
  long amount() const { return amount_; }

 private:
  long amount_;
  bool unique_requests_;
};

// Retries on any error: after a lost COMMIT reply, charges again.
class RetryAnyError final : public Payments {
 public:
  explicit RetryAnyError(Options& options) : Payments(options, false) {}
  static ScenarioInfo info() {
    return {"payment.retry_any_error",
            "A payment service charges a wallet (UPDATE the balance, INSERT the charge, COMMIT) and retries the "
            "whole charge on any error. pgrace drops the connection after some COMMITs ran and before their reply "
            "came: the charge committed, the service saw an error, retried, and charged the customer twice, "
            "violating \"each request charged once\".",
            expect_violation({kChargedOnce}), payment_knobs()};
  }

 protected:
  void charge(pqxx::connection& c, const std::string& request, int wallet) override {
    pqxx::work tx(c);
    tx.exec_params("UPDATE wallets SET balance = balance - $2 WHERE id = $1", wallet, amount());
    tx.exec_params("INSERT INTO charges (request_id, wallet, amount) VALUES ($1, $2, $3)", request, wallet, amount());
    tx.commit();
  }
};

// Retries with the request id as an idempotency key, enforced by a unique
// constraint: a retry of a charge that did commit finds it and stops.
class IdempotentRetry final : public Payments {
 public:
  explicit IdempotentRetry(Options& options) : Payments(options, true) {}
  static ScenarioInfo info() {
    return {"payment.idempotent_retry",
            "The same service and the same lost COMMIT replies, but each charge first records its request id in a "
            "ledger whose request ids are UNIQUE (INSERT ... ON CONFLICT DO NOTHING) and debits only when the "
            "insert took: a retry of a charge that committed changes nothing. \"each request charged once\" holds.",
            expect_hold(), payment_knobs()};
  }

 protected:
  void charge(pqxx::connection& c, const std::string& request, int wallet) override {
    pqxx::work tx(c);
    const pqxx::result recorded = tx.exec_params(
        "INSERT INTO charges (request_id, wallet, amount) VALUES ($1, $2, $3) "
        "ON CONFLICT (request_id) DO NOTHING RETURNING id",
        request, wallet, amount());
    if (!recorded.empty()) tx.exec_params("UPDATE wallets SET balance = balance - $2 WHERE id = $1", wallet, amount());
    tx.commit();
  }
};

}  // namespace
}  // namespace pgrace::scenarios

PGRACE_REGISTER_SCENARIO(pgrace::scenarios::RetryAnyError);
PGRACE_REGISTER_SCENARIO(pgrace::scenarios::IdempotentRetry);
