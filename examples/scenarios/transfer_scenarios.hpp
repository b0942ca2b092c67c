#pragma once
// pgrace scenarios for the bank library's transfer_funds (bank/transfer.hpp),
// run against a real PostgreSQL. Ten customers have 100 each. In each
// round, 20 payments of 10 from one customer to the shop arrive at the same
// moment (20 workers, released together); each round has the next customer
// pay, so every round is a fresh chance for the race. Whatever the order, 10
// of a customer's payments fit. Invariants: no balance ever goes negative,
// and no money appears or disappears.
//
// The scenario program (bank_pgrace) registers both classes; the GoogleTest
// program (bank_tests) runs them directly with pgrace::testing::run<...>().

#include <pgrace/scenario.hpp>
#include <string>
#include <vector>

namespace bank_scenarios {

// What the two scenarios share: the application's schema, the accounts, the
// invariants and the options (-o customers=10 -o balance=100 -o amount=10).
class Payments : public pgrace::Scenario {
 public:
  explicit Payments(pgrace::Options& options);
  std::string schema() const override;
  void seed(pqxx::work& tx) override;
  std::vector<pgrace::Invariant> invariants() const override;

  static constexpr const char* kNoNegativeBalance = "no negative balance";
  static constexpr const char* kMoneyConserved = "money is conserved";
  static constexpr long kShop = 0;  // the account every payment goes to

 protected:
  static pgrace::Knobs knobs();              // 20 workers, 10 rounds
  long payer(pgrace::Worker& worker) const;  // the customer who pays in this round

  long customers_, balance_, amount_;
};

// bank::naive::transfer_funds: read the balance, check, debit. Expected to
// overdraw, violating "no negative balance", on every run.
class NaiveTransfer : public Payments {
 public:
  using Payments::Payments;
  static pgrace::ScenarioInfo info();
  pgrace::TxResult transaction(pgrace::Worker& worker) override;
};

// bank::locked::transfer_funds: FOR UPDATE, check under the lock, debit.
// Expected to hold.
class LockedTransfer : public Payments {
 public:
  using Payments::Payments;
  static pgrace::ScenarioInfo info();
  pgrace::TxResult transaction(pgrace::Worker& worker) override;
};

}  // namespace bank_scenarios
