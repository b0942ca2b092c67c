#pragma once
// Moving money between two accounts of the bank (table `accounts`, see
// sql/schema.sql), in the two versions of the well-known story: the one that
// was shipped first, and the fix.
//
// Both run one transaction on `connection`, at the connection's default
// isolation level, and commit it. Both throw std::invalid_argument when
// `amount` is not positive, `from` equals `to` or an account does not exist
// (nothing is written), and let database errors (pqxx exceptions: lost
// connection, serialization failure, deadlock) propagate, with the
// transaction rolled back.
//
// Thread safety: a pqxx::connection belongs to one thread; concurrent
// transfers each use their own connection.

#include <pqxx/connection>

namespace bank {

enum class TransferStatus {
  done,                // committed: `from` was debited and `to` credited
  insufficient_funds,  // rolled back: `from` had less than `amount`
};

namespace naive {
// Reads the balance of `from`, checks it covers `amount`, then debits `from`
// and credits `to`. The bug: nothing stops another transfer from debiting
// `from` between the check and the debit. Both pass the check against the
// same balance and the account is overdrawn.
TransferStatus transfer_funds(pqxx::connection& connection, long from, long to, long amount);
}  // namespace naive

namespace locked {
// The fix: locks both rows with SELECT ... FOR UPDATE (lower id first, so two
// transfers never wait for each other in a cycle), checks the funds under the
// lock, then debits and credits. A concurrent transfer touching either
// account waits for this one to end, then sees its result.
TransferStatus transfer_funds(pqxx::connection& connection, long from, long to, long amount);
}  // namespace locked

}  // namespace bank
