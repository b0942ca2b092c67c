// A pgrace worker: the article's test, PGRACE_ITERATIONS concurrent
// transfers of 10 from account 1 (alice) to account 2 (bob) on one pg Pool,
// with the version of transferFunds named by the first argument, as the
// article's test does.
const { Pool } = require('pg');
const transfers = require('./src/transferFunds');

async function main() {
  const transferFunds = transfers[process.argv[2]];
  if (!transferFunds) throw new Error(`no transferFunds version ${process.argv[2]}`);
  const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
  const count = Number(process.env.PGRACE_ITERATIONS);
  const results = await Promise.allSettled(Array.from({ length: count }, () => transferFunds(1, 2, 10, pool)));
  await pool.end();
  // A database error (it has a SQLSTATE code) is an outcome: pgrace saw it
  // on the wire and counts it. Anything else is a bug of the worker.
  const failed = results.find((r) => r.status === 'rejected' && !r.reason.code);
  if (failed) throw failed.reason;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
