// bank.transfer.naive: the transfer that was shipped first.

#include <bank/transfer.hpp>

#include "transfer_scenarios.hpp"

namespace bank_scenarios {

pgrace::ScenarioInfo NaiveTransfer::info() {
  return {"bank.transfer.naive",
          "bank::naive::transfer_funds: reads the payer's balance, checks it, then debits. When 20 payments of "
          "10 from a customer with 100 arrive at once, more than 10 of them read the balance before the "
          "debits commit, pass the check and are paid: the customer is overdrawn, violating \"no negative "
          "balance\".",
          pgrace::expect_violation({kNoNegativeBalance}), knobs()};
}

pgrace::TxResult NaiveTransfer::transaction(pgrace::Worker& worker) {
  const auto status = bank::naive::transfer_funds(worker.connection(), payer(worker), kShop, amount_);
  return status == bank::TransferStatus::done ? pgrace::TxResult::committed : pgrace::TxResult::rejected;
}

}  // namespace bank_scenarios

PGRACE_REGISTER_SCENARIO(bank_scenarios::NaiveTransfer);
