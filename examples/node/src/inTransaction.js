// Runs work(client) in a transaction on one connection checked out of the
// pg Pool `db`: COMMIT when it resolves to true, ROLLBACK when to false or
// when it throws (then the error propagates, and the connection, which may
// be broken, is discarded instead of going back to the pool).
// A dropped connection also reaches a checked-out client as an 'error'
// event; the failing query already reports it.
const ignore = () => {};

async function inTransaction(db, work) {
  const client = await db.connect();
  client.on('error', ignore);
  let failure;
  try {
    await client.query('BEGIN');
    const committed = await work(client);
    await client.query(committed ? 'COMMIT' : 'ROLLBACK');
    return committed;
  } catch (error) {
    failure = error;
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.off('error', ignore);
    client.release(failure);
  }
}

module.exports = { inTransaction };
