// bank.transfer.locked: the fix.

#include <bank/transfer.hpp>

#include "transfer_scenarios.hpp"

namespace bank_scenarios {

pgrace::ScenarioInfo LockedTransfer::info() {
  return {"bank.transfer.locked",
          "bank::locked::transfer_funds: locks both accounts with SELECT ... FOR UPDATE, checks the payer's "
          "balance under the lock, then debits. Of 20 simultaneous payments of 10 from a customer with 100, "
          "exactly 10 are paid and 10 refused: no negative balance, money conserved.",
          pgrace::expect_hold(), knobs()};
}

pgrace::TxResult LockedTransfer::transaction(pgrace::Worker& worker) {
  const auto status = bank::locked::transfer_funds(worker.connection(), payer(worker), kShop, amount_);
  return status == bank::TransferStatus::done ? pgrace::TxResult::committed : pgrace::TxResult::rejected;
}

}  // namespace bank_scenarios

PGRACE_REGISTER_SCENARIO(bank_scenarios::LockedTransfer);
