// Charging an order from wallet 1, retried when anything fails, as payment
// code often is. A COMMIT whose reply is lost (the connection drops after
// the server committed) looks like any other failure to the client.
const { inTransaction } = require('./inTransaction');

const kAttempts = 20;

async function withRetries(charge) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await charge();
    } catch (error) {
      if (attempt >= kAttempts) throw error;
    }
  }
}

// Retries the whole charge on any error: after a lost COMMIT reply the
// retry charges the order a second time.
async function chargeRetryOnAnyError(orderId, amount, db) {
  return withRetries(() =>
    inTransaction(db, async (client) => {
      await client.query('UPDATE wallets SET balance = balance - $1 WHERE id = 1', [amount]);
      await client.query('INSERT INTO charges (order_id, amount) VALUES ($1, $2)', [orderId, amount]);
      return true;
    }),
  );
}

// The idempotent twin: the charge is recorded and the wallet debited only if
// the order has no charge yet, in the same transaction, so a retry after a
// lost COMMIT reply finds the first charge and does nothing.
async function chargeIdempotent(orderId, amount, db) {
  return withRetries(() =>
    inTransaction(db, async (client) => {
      const { rowCount } = await client.query(
        'INSERT INTO charges (order_id, amount) SELECT $1, $2 WHERE NOT EXISTS (SELECT 1 FROM charges WHERE order_id = $1)',
        [orderId, amount],
      );
      if (rowCount === 1) await client.query('UPDATE wallets SET balance = balance - $1 WHERE id = 1', [amount]);
      return true;
    }),
  );
}

module.exports = { chargeRetryOnAnyError, chargeIdempotent };
