#!/bin/sh
# Throughput of pgrace's transfer.for_update against pgbench running the same
# transaction on the same server, with the same accounts and the same number
# of clients, alternating the two so that both see the same machine state.
#
#   bench/compare_pgbench.sh [PGRACE_BINARY]     (default: build/pgrace)
#
# Environment: DURATION (seconds per run, default 5), ROUNDS (runs of each,
# default 3), CLIENTS (default 8), ACCOUNTS (default 4), SYNC (pgrace's
# --sync: start, the default, or round), PGRACE_ARGS (extra arguments for
# `pgrace run`; default none), QUIET_WAIT
# (seconds to wait, before each run, for the rest of the machine to go idle;
# default 0: do not wait, only report how much CPU other processes took),
# PLAIN_TABLE (1: pgbench's accounts table lacks the scenario's overdraft
# trigger; default 0: pgbench gets the scenario's whole schema).
#
# Everything goes over the unix socket of one ephemeral server started with
# `pgrace server`; the server is stopped with SIGINT and the temp dir removed
# on exit, on Ctrl-C and on error. Bounded: each command runs under timeout(1).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/bench_lib.sh
. "$root/bench/bench_lib.sh"
pgrace=${1:-$root/build/pgrace}
duration=${DURATION:-5}
rounds=${ROUNDS:-3}
clients=${CLIENTS:-8}
accounts=${ACCOUNTS:-4}
balance=1000000
max_amount=100
sync=${SYNC:-start}
extra=${PGRACE_ARGS:-}
quiet_wait=${QUIET_WAIT:-0}
plain_table=${PLAIN_TABLE:-0}

case $pgrace in /*) ;; *) pgrace=$PWD/$pgrace ;; esac
[ -x "$pgrace" ] || { echo "no pgrace binary at $pgrace (build it, or pass its path)" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-pgrace.XXXXXX")
server_pid=
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -INT "$server_pid" 2>/dev/null || true
    stop_child "$server_pid"   # it stops PostgreSQL and removes its directory
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the server -------------------------------------------------------------
: >"$tmp/server.out"   # exists before the background job gets to open it
"$pgrace" server >>"$tmp/server.out" 2>&1 &
server_pid=$!
dsn=
i=0
while [ $i -lt 600 ]; do   # 60 s at most
  dsn=$(sed -n 's/^  psql "\(.*\)"$/\1/p' "$tmp/server.out")
  [ -n "$dsn" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/server.out" >&2; exit 3; }
  sleep 0.1
  i=$((i + 1))
done
[ -n "$dsn" ] || { echo "pgrace server printed no DSN in 60 s" >&2; cat "$tmp/server.out" >&2; exit 3; }
host=$(printf '%s\n' "$dsn" | sed -n "s/.*host='\([^']*\)'.*/\1/p")
port=$(printf '%s\n' "$dsn" | sed -n 's/.*port=\([0-9]*\).*/\1/p')
major=$(sed -n 's/^PostgreSQL \([0-9]*\).*/\1/p' "$tmp/server.out")

# pgbench and psql of the server's major version, else whatever is on PATH.
pgbench=$(find_tool "$major" pgbench)
psql=$(find_tool "$major" psql)
if [ -z "$pgbench" ] || [ -z "$psql" ]; then echo "pgbench/psql not found" >&2; exit 2; fi

# CPU accounting, in clock ticks (bench_lib.sh), to tell the cost of a
# transaction from the share of the 2 cores it got: "others" = machine -
# client - server is what the rest of the machine (other jobs) took during the run.
snapshot() { c0=$(client_ticks) s0=$(server_ticks "$postmaster") m0=$(machine_ticks); }
# After the run: waits for the backends to exit and be reaped, then prints
# "CLIENT_SECONDS SERVER_SECONDS OTHERS_SHARE" for the run.
account() {
  sleep 0.5
  c1=$(client_ticks) s1=$(server_ticks "$postmaster") m1=$(machine_ticks)
  awk -v c=$((c1 - c0)) -v s=$((s1 - s0)) -v m=$((m1 - m0)) -v hz="$(getconf CLK_TCK)" 'BEGIN {
    o = m > 0 ? (m - c - s) / m : 0; if (o < 0) o = 0
    printf "%.2f %.2f %.2f\n", c / hz, s / hz, o }'
}

# Waits up to QUIET_WAIT seconds for a second in which the machine is < 10 % busy;
# says so if it stayed busy.
quiet_or_say() {
  wait_for_quiet "$quiet_wait" || echo "  (the machine stayed busy for ${quiet_wait} s; running anyway)"
}

export PGHOST="$host" PGPORT="$port" PGUSER=pgrace
unset PGPASSWORD PGSERVICE PGDATABASE 2>/dev/null || true

run_psql() { PGOPTIONS="-c client_min_messages=warning" timeout 60 "$psql" -X -q -v ON_ERROR_STOP=1 "$@" >/dev/null; }
run_psql -d postgres -c "CREATE DATABASE bench"

# The postmaster, from the server's own data directory (its layout is pgrace's business).
data_dir=$(timeout 60 "$psql" -X -A -t -d postgres -c "SHOW data_directory")
postmaster=$(head -n 1 "$data_dir/postmaster.pid" 2>/dev/null || true)
if [ -z "$postmaster" ] || [ ! -r "/proc/$postmaster/stat" ]; then
  echo "cannot find the postmaster (data directory: $data_dir): no server CPU accounting" >&2; exit 3
fi

# The scenario's schema, sql/transfer.sql, whole: the accounts table and the
# trigger that records overdrafts (the history behind "no negative balance";
# every UPDATE pays for its WHEN clause). PLAIN_TABLE=1 gives pgbench the bare
# accounts table instead, to show what that trigger costs. Before every
# pgbench run the tables are reset exactly as pgrace resets a scenario's
# tables (TRUNCATE, then the seed), so both start from a fresh, never-analyzed
# table and get the same plans (index scans; after VACUUM ANALYZE the planner
# would pick seq scans instead).
if [ "$plain_table" = 1 ]; then
  run_psql -d bench -c "CREATE TABLE accounts (id integer PRIMARY KEY, balance bigint NOT NULL)"
  tables=accounts
else
  run_psql -d bench -f "$root/sql/transfer.sql"
  tables="overdrafts, accounts"
fi
reset_bench_table() {
  run_psql -d bench -c "TRUNCATE $tables" \
    -c "INSERT INTO accounts SELECT g, $balance FROM generate_series(1, $accounts) g"
}

# transfer.for_update, statement for statement: lock both rows in id order,
# (the funds check happens on the client in pgrace; with these balances it
# always passes), then debit and credit in id order, commit.
cat >"$tmp/for_update.sql" <<'SQL'
\set from random(1, :accounts)
\set off random(1, :accounts - 1)
\set to 1 + ((:from - 1 + :off) % :accounts)
\set amount random(1, :max_amount)
BEGIN;
SELECT id, balance FROM accounts WHERE id IN (:from, :to) ORDER BY id FOR UPDATE;
\if :from < :to
UPDATE accounts SET balance = balance - :amount WHERE id = :from;
UPDATE accounts SET balance = balance + :amount WHERE id = :to;
\else
UPDATE accounts SET balance = balance + :amount WHERE id = :to;
UPDATE accounts SET balance = balance - :amount WHERE id = :from;
\endif
END;
SQL

bound=$((duration * 3 + 60))

run_pgbench() {
  reset_bench_table
  quiet_or_say
  snapshot
  timeout "$bound" "$pgbench" -n -M prepared -f "$tmp/for_update.sql" -c "$clients" -j "$clients" \
    -T "$duration" -D accounts="$accounts" -D max_amount="$max_amount" bench >"$tmp/pgbench.out" 2>&1 ||
    { cat "$tmp/pgbench.out" >&2; exit 3; }
  cpu=$(account)
  tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time).*/\1/p' "$tmp/pgbench.out")
  n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$tmp/pgbench.out")
  failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$tmp/pgbench.out")
  if [ -z "$tps" ] || [ -z "$n" ]; then cat "$tmp/pgbench.out" >&2; exit 3; fi
  record pgbench "$1" "$tps" "$n" "$cpu" "failed ${failed:-0}"
}

# record TOOL RUN TPS TRANSACTIONS "CLIENT_S SERVER_S OTHERS" NOTE
record() {
  # shellcheck disable=SC2086  # $5 is split into its three numbers on purpose
  set -- "$1" "$2" "$3" "$4" $5 "$6"
  echo "$3 $(awk -v c="$5" -v s="$6" -v n="$4" 'BEGIN { printf "%.1f %.1f", c / n * 1e6, s / n * 1e6 }') $7" \
    >>"$tmp/$1.runs"
  awk -v t="$1" -v r="$2" -v tps="$3" -v n="$4" -v c="$5" -v s="$6" -v o="$7" -v note="$8" 'BEGIN {
    printf "  %-7s run %d: %8.1f tps  cpu/tx: client %5.1f us, server %5.1f us  others took %3.0f%% of the CPU  (%s)\n",
      t, r, tps, c / n * 1e6, s / n * 1e6, 100 * o, note }'
}

run_pgrace() {
  quiet_or_say
  snapshot
  # shellcheck disable=SC2086  # PGRACE_ARGS is split on purpose
  timeout "$bound" "$pgrace" run transfer.for_update --dsn "$dsn" --threads "$clients" --duration "$duration" \
    --sync "$sync" -o accounts="$accounts" -o balance="$balance" -o max_amount="$max_amount" -o think_us=0 \
    $extra --report "$tmp/pgrace.json" -q >"$tmp/pgrace.out" 2>&1 ||
    { cat "$tmp/pgrace.out" >&2; exit 3; }
  cpu=$(account)
  tps=$(jq -r '.scenarios[0].throughput_tps' "$tmp/pgrace.json")
  committed=$(jq -r '.scenarios[0].outcomes.committed // 0' "$tmp/pgrace.json")
  ended=$(jq -r '[.scenarios[0].outcomes[]] | add' "$tmp/pgrace.json")
  # pgrace's CPU includes its setup and teardown (cloning and dropping the
  # database, 10 connections, the final checks): about 70 ms of server CPU,
  # 2-3 us per transaction in a 5 s run. pgbench's table reset is not counted.
  record pgrace "$1" "$tps" "$ended" "$cpu" "committed $committed of $ended"
}

echo "transfer.for_update (--sync $sync) vs pgbench: $clients clients, $accounts accounts, ${duration} s per run, $rounds runs each"
echo "  server: $(sed -n 's/^\(PostgreSQL [^ ]*\).*/\1/p' "$tmp/server.out"), $(nproc) cores; pgbench: $pgbench"
[ -z "$extra" ] || echo "  extra pgrace arguments: $extra"
[ "$plain_table" != 1 ] || echo "  PLAIN_TABLE=1: pgbench's table has no overdraft trigger, pgrace's has"
r=1
while [ $r -le "$rounds" ]; do
  run_pgbench $r
  run_pgrace $r
  r=$((r + 1))
done
summary() {  # TOOL: median tps, client us/tx, server us/tx, others' share
  for f in 1 2 3 4; do cut -d ' ' -f $f "$tmp/$1.runs" | median; done | tr '\n' ' '
}
# shellcheck disable=SC2046  # eight numbers, split on purpose
set -- $(summary pgbench) $(summary pgrace)
echo "medians of $rounds runs:"
awk -v bt="$1" -v bc="$2" -v bs="$3" -v bo="$4" -v rt="$5" -v rc="$6" -v rs="$7" -v ro="$8" 'BEGIN {
  printf "  pgbench %8.1f tps  cpu/tx: client %5.1f us, server %5.1f us, total %5.1f us\n", bt, bc, bs, bc + bs
  printf "  pgrace  %8.1f tps  cpu/tx: client %5.1f us, server %5.1f us, total %5.1f us\n", rt, rc, rs, rc + rs
  printf "ratio pgrace/pgbench: throughput %.3f, cpu per transaction %.3f\n", rt / bt, (rc + rs) / (bc + bs)
  if (bo > 0.1 || ro > 0.1)
    printf "warning: other processes took %.0f%%/%.0f%% of the CPU during the runs (median); the tps are not clean\n", 100 * bo, 100 * ro
}'
# The spread: each round's pgrace tps over the pgbench tps of the same round.
paste -d ' ' "$tmp/pgbench.runs" "$tmp/pgrace.runs" | awk '{
    r = $5 / $1; list = list sprintf(" %.3f", r)
    if (NR == 1 || r < lo) lo = r; if (NR == 1 || r > hi) hi = r
  } END { printf "per-round throughput ratios:%s (min %.3f, max %.3f)\n", list, lo, hi }'
