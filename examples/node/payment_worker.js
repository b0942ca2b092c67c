// A pgrace worker: charges PGRACE_ITERATIONS orders of its own (ids
// PGRACE_WORKER * 10000 + i), one after another, with the version of the
// charge named by the first argument.
const { Pool } = require('pg');
const charges = require('./src/charge');

async function main() {
  const charge = charges[process.argv[2]];
  if (!charge) throw new Error(`no charge version ${process.argv[2]}`);
  const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 2 });
  pool.on('error', () => {}); // an idle connection that drops is replaced by the next checkout
  const first = Number(process.env.PGRACE_WORKER) * 10000;
  for (let i = 0; i < Number(process.env.PGRACE_ITERATIONS); i++) await charge(first + i, 10, pool);
  await pool.end();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
