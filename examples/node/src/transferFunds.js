// The article's transferFunds(fromId, toId, amount, db), db a pg Pool, in
// the three versions the article walks through. Each resolves to true when
// the transfer committed and false when it was declined.
const { inTransaction } = require('./inTransaction');

// 1. Transaction statements sent with pool.query(): each goes to whichever
// pooled connection is free, so BEGIN, the check, the updates and COMMIT
// of concurrent transfers land on different connections and mix.
async function transferFundsPoolQuery(fromId, toId, amount, db) {
  await db.query('BEGIN');
  const { rows } = await db.query('SELECT balance FROM accounts WHERE id = $1', [fromId]);
  if (rows[0].balance < amount) {
    await db.query('ROLLBACK');
    return false;
  }
  await db.query('UPDATE accounts SET balance = balance - $1 WHERE id = $2', [amount, fromId]);
  await db.query('UPDATE accounts SET balance = balance + $1 WHERE id = $2', [amount, toId]);
  await db.query('COMMIT');
  return true;
}

// 2. The article's "fix": one connection, the payer's row locked with
// SELECT ... FOR UPDATE, but no funds check: the transfers are serialised,
// and every one of them commits.
async function transferFundsForUpdate(fromId, toId, amount, db) {
  return inTransaction(db, async (client) => {
    await client.query('SELECT balance FROM accounts WHERE id = $1 FOR UPDATE', [fromId]);
    await client.query('UPDATE accounts SET balance = balance - $1 WHERE id = $2', [amount, fromId]);
    await client.query('UPDATE accounts SET balance = balance + $1 WHERE id = $2', [amount, toId]);
    return true;
  });
}

// 3. Done right: the funds checked under the lock.
async function transferFundsChecked(fromId, toId, amount, db) {
  return inTransaction(db, async (client) => {
    const { rows } = await client.query('SELECT balance FROM accounts WHERE id = $1 FOR UPDATE', [fromId]);
    if (rows[0].balance < amount) return false;
    await client.query('UPDATE accounts SET balance = balance - $1 WHERE id = $2', [amount, fromId]);
    await client.query('UPDATE accounts SET balance = balance + $1 WHERE id = $2', [amount, toId]);
    return true;
  });
}

module.exports = { transferFundsPoolQuery, transferFundsForUpdate, transferFundsChecked };
