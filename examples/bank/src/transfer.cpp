#include "bank/transfer.hpp"

#include <pqxx/pqxx>
#include <stdexcept>
#include <string>

namespace bank {
namespace {

void check_arguments(long from, long to, long amount) {
  if (amount <= 0) throw std::invalid_argument("transfer amount must be positive, got " + std::to_string(amount));
  if (from == to) throw std::invalid_argument("cannot transfer from account " + std::to_string(from) + " to itself");
}

[[noreturn]] void no_such_account(long id) { throw std::invalid_argument("no account " + std::to_string(id)); }

// Debits `from`, credits `to` and commits.
TransferStatus move_and_commit(pqxx::work& tx, long from, long to, long amount) {
  tx.exec_params0("UPDATE accounts SET balance = balance - $2 WHERE id = $1", from, amount);
  if (tx.exec_params("UPDATE accounts SET balance = balance + $2 WHERE id = $1", to, amount).affected_rows() != 1)
    no_such_account(to);
  tx.commit();
  return TransferStatus::done;
}

}  // namespace

namespace naive {
TransferStatus transfer_funds(pqxx::connection& connection, long from, long to, long amount) {
  check_arguments(from, to, amount);
  pqxx::work tx(connection);
  const pqxx::result balance = tx.exec_params("SELECT balance FROM accounts WHERE id = $1", from);
  if (balance.empty()) no_such_account(from);
  if (balance[0][0].as<long>() < amount) return TransferStatus::insufficient_funds;  // ~work rolls back
  return move_and_commit(tx, from, to, amount);
}
}  // namespace naive

namespace locked {
TransferStatus transfer_funds(pqxx::connection& connection, long from, long to, long amount) {
  check_arguments(from, to, amount);
  pqxx::work tx(connection);
  const pqxx::result rows =
      tx.exec_params("SELECT id, balance FROM accounts WHERE id IN ($1, $2) ORDER BY id FOR UPDATE", from, to);
  if (rows.size() != 2) no_such_account(rows.empty() || rows[0][0].as<long>() != from ? from : to);
  const long balance = rows[0][0].as<long>() == from ? rows[0][1].as<long>() : rows[1][1].as<long>();
  if (balance < amount) return TransferStatus::insufficient_funds;
  return move_and_commit(tx, from, to, amount);
}
}  // namespace locked

}  // namespace bank
