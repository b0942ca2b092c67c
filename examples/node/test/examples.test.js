// The team's own regression check (npm test): pgrace runs each version of
// transferFunds 20 times on a throwaway PostgreSQL and the verdicts must be
// the article's. PGRACE names the pgrace program (default: the repository's
// build/pgrace).
const { test } = require('node:test');
const assert = require('node:assert');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const pgrace = process.env.PGRACE || path.resolve(__dirname, '../../../build/pgrace');
const repeat = 20;

// Runs `pgrace COMMAND FILE ARGS...` and returns the scenario of the JSON
// report. `exits`: the exit codes expected (default: 0).
function pgraceOn(command, file, extra, exits = [0]) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrace-node-'));
  const report = path.join(dir, 'report.json');
  try {
    const args = [command, path.join(__dirname, '..', file), ...extra, '--report', report, '-q'];
    // No DSN: pgrace starts its own ephemeral server.
    const env = { ...process.env, PGRACE_DSN: '', DATABASE_URL: '' };
    const result = spawnSync(pgrace, args, { encoding: 'utf8', env });
    assert.ok(exits.includes(result.status), `pgrace ${args.join(' ')}: exit ${result.status}\n${result.stdout}${result.stderr}`);
    return JSON.parse(fs.readFileSync(report, 'utf8')).scenarios[0];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const run = (file, exits) => pgraceOn('run', file, ['--repeat', String(repeat)], exits);
// Two workers, one transfer each, every order of their statements: with
// balances of 10 two transfers are enough to overdraw.
const explore = (file) => pgraceOn('explore', file, ['--workers', '2', '--max-switches', '2', '-o', 'balance=10']);

// Not in every repetition: a BEGIN sent with pool.query() leaves its pooled
// connection in a transaction that a later debit may join and nothing
// commits, so that debit is rolled back when the pool ends (17 to 20 of 20
// repetitions overdrew in our runs). pgrace then exits 1, the expectation
// (a violation in every repetition) unmet.
test('BEGIN/COMMIT through pool.query overdraws alice in most repetitions', () => {
  const scenario = run('pool_query.pgrace.toml', [0, 1]);
  assert.equal(scenario.verdict, 'violated');
  assert.ok(scenario.violating_runs >= repeat / 2, `${scenario.violating_runs} of ${repeat} repetitions overdrew`);
});

test("FOR UPDATE without a funds check ends alice at -100, the article's number", () => {
  const scenario = run('for_update.pgrace.toml');
  assert.equal(scenario.verdict, 'violated');
  assert.equal(scenario.violating_runs, repeat);
  assert.deepEqual(scenario.invariants.find((i) => i.name === 'no negative balance').witnesses, ['(id=1, balance=-100)']);
  assert.equal(scenario.outcomes.committed, 20 * repeat);
});

test('the funds check under the lock holds: 10 of the 20 transfers commit, 10 are declined', () => {
  const scenario = run('checked.pgrace.toml');
  assert.equal(scenario.verdict, 'held');
  assert.equal(scenario.violating_runs, 0);
  assert.equal(scenario.outcomes.committed, 10 * repeat);
  assert.equal(scenario.outcomes.rejected, 10 * repeat);
});

test('explore finds the pool.query overdraft with at most 2 switches, the same reproducer every time', () => {
  // --max-switches 2 bounds every schedule explored, the reproducer's too.
  const first = explore('pool_query.pgrace.toml');
  const second = explore('pool_query.pgrace.toml');
  assert.equal(first.verdict, 'violated');
  assert.ok(first.matched);
  assert.deepEqual(first.schedules.minimal_reproducer.schedule, second.schedules.minimal_reproducer.schedule);
});

test('explore: the funds check under the lock holds in every order up to 2 switches', () => {
  const scenario = explore('checked.pgrace.toml');
  assert.equal(scenario.verdict, 'held');
  assert.equal(scenario.schedules.explored, scenario.schedules.total);
});

// Faults: pgrace drops the reply to one COMMIT in five (the server committed).
const runWithLostCommits = (file) => pgraceOn('run', file, ['--repeat', String(repeat), '--fault', 'drop_reply:commit:0.2']);

test('retrying a charge on any error charges an order twice when a COMMIT reply is lost', () => {
  const scenario = runWithLostCommits('payment_retry_any.pgrace.toml');
  assert.equal(scenario.verdict, 'violated');
  assert.equal(scenario.violating_runs, repeat);
  assert.ok(scenario.outcomes.indeterminate > 0);
});

test('the idempotent charge holds under the same lost COMMIT replies', () => {
  const scenario = runWithLostCommits('payment_idempotent.pgrace.toml');
  assert.equal(scenario.verdict, 'held');
  assert.ok(scenario.outcomes.indeterminate > 0);
});
