#!/bin/sh
# What the wire proxy costs a real client: pgbench's built-in scripts run
# alternately directly against a server and through pgrace's wire proxy
# (recording only, no gate; bench/proxy_relay keeps it up), on the same
# server, with the same clients, in each query mode.
#
#   bench/compare_proxy_pgbench.sh [PROXY_RELAY_BINARY]   (default: build/bench/proxy_relay)
#
# Environment: DURATION (seconds per run, default 5), ROUNDS (runs of each
# side per configuration, default 5), CLIENTS (pgbench -c and -j, default 8),
# SCALE (pgbench -i -s, default 8: one branch per client, as pgbench's
# documentation advises), SCRIPTS (built-in scripts, default "select-only
# tpcb-like"), MODES (query modes, default "prepared extended simple"),
# QUIET_WAIT (seconds to wait, before each run, for the machine to be less
# than 10 % busy; default 0: do not wait, only report other jobs' share).
#
# For each script and mode it prints every round (direct and proxied tps and
# latency, the proxy's CPU per request, the round's ratio proxied/direct, the
# share of the CPU other jobs took during each run),
# then the medians, the ratio of the medians and the spread of the per-round
# ratios, the latency the proxy adds to a request and its CPU per request.
# Rounds alternate which side runs first.
#
# Everything goes over unix sockets of the one ephemeral server that
# proxy_relay starts. proxy_relay reads a fifo this script holds open; closing
# it (on exit, on Ctrl-C, on error, or when this shell is killed) makes it
# close the proxy, stop the server and remove both directories. Bounded:
# every client command runs under timeout(1).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/bench_lib.sh
. "$root/bench/bench_lib.sh"
relay=${1:-$root/build/bench/proxy_relay}
duration=${DURATION:-5}
rounds=${ROUNDS:-5}
clients=${CLIENTS:-8}
scale=${SCALE:-8}
scripts=${SCRIPTS:-select-only tpcb-like}
modes=${MODES:-prepared extended simple}
quiet_wait=${QUIET_WAIT:-0}

case $relay in /*) ;; *) relay=$PWD/$relay ;; esac
[ -x "$relay" ] || { echo "no proxy_relay binary at $relay (./scripts/build.sh proxy_relay, or pass its path)" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-proxy.XXXXXX")
relay_pid=
cleanup() {
  exec 3>&- 2>/dev/null || true   # end of file on proxy_relay's stdin: it stops
  # It closes the proxy, stops PostgreSQL and removes its directories.
  if [ -n "$relay_pid" ]; then stop_child "$relay_pid"; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the server and the proxy -------------------------------------------------
mkfifo "$tmp/relay.in"
"$relay" <"$tmp/relay.in" >"$tmp/relay.out" 2>&1 &
relay_pid=$!
exec 3>"$tmp/relay.in"   # held until cleanup; the clients below run with 3>&-
i=0
until grep -q '^ready$' "$tmp/relay.out"; do   # 60 s at most
  if ! kill -0 "$relay_pid" 2>/dev/null || [ $i -ge 600 ]; then
    echo "proxy_relay did not get ready:" >&2; cat "$tmp/relay.out" >&2; exit 3
  fi
  sleep 0.1
  i=$((i + 1))
done
value() { sed -n "s/^$1 //p" "$tmp/relay.out"; }
direct_host=$(value direct_host) direct_port=$(value direct_port)
proxy_host=$(value proxy_host) proxy_port=$(value proxy_port)
major=$(value server | sed -n 's/^\([0-9]*\).*/\1/p')

# pgbench and psql of the server's major version, else whatever is on PATH.
pgbench=$(find_tool "$major" pgbench)
psql=$(find_tool "$major" psql)
if [ -z "$pgbench" ] || [ -z "$psql" ]; then echo "pgbench/psql not found" >&2; exit 2; fi

PGUSER=$(value user)
export PGUSER
unset PGHOST PGPORT PGPASSWORD PGSERVICE PGDATABASE PGOPTIONS 2>/dev/null || true
run_psql() {
  PGOPTIONS="-c client_min_messages=warning" timeout 600 "$psql" -X -q -v ON_ERROR_STOP=1 \
    -h "$direct_host" -p "$direct_port" "$@" >/dev/null 3>&-
}
run_psql -d postgres -c "CREATE DATABASE bench"
timeout 600 "$pgbench" -i -q -s "$scale" -h "$direct_host" -p "$direct_port" bench >"$tmp/init.out" 2>&1 3>&- ||
  { cat "$tmp/init.out" >&2; exit 3; }

# What pgbench does before a run unless -n: every run starts alike.
reset_tables() { run_psql -d bench -c "VACUUM pgbench_branches, pgbench_tellers" -c "TRUNCATE pgbench_history"; }

# Requests (a Query, or extended-protocol messages up to a Sync) per
# transaction of a built-in script: select-only runs one SELECT; tpcb-like
# runs BEGIN, three UPDATEs, a SELECT, an INSERT and END.
requests_of() { case $1 in select-only) echo 1 ;; tpcb-like) echo 7 ;; *) echo "unknown script $1" >&2; exit 2 ;; esac; }

# The postmaster, from the server's own data directory (its layout is pgrace's business).
data_dir=$(timeout 60 "$psql" -X -A -t -h "$direct_host" -p "$direct_port" -d postgres -c "SHOW data_directory" 3>&-)
postmaster=$(head -n 1 "$data_dir/postmaster.pid" 2>/dev/null || true)
if [ -z "$postmaster" ] || [ ! -r "/proc/$postmaster/stat" ]; then
  echo "cannot find the postmaster (data directory: $data_dir)" >&2; exit 3
fi

# CPU accounting, in clock ticks. Proxy: proxy_relay's user + system time
# (the proxy's threads; the server is other processes). Client, server and
# machine: bench_lib.sh (pgbench runs under timeout, which waits for it).
# What the machine spent beyond these three is other jobs' share, which says
# how clean a run's tps are.
proxy_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$relay_pid/stat"; }
ticks() { echo "$(proxy_ticks) $(client_ticks) $(server_ticks "$postmaster") $(machine_ticks)"; }

bound=$((duration * 3 + 60))
# run SIDE SCRIPT MODE: one pgbench run; appends "TPS LATENCY_MS TRANSACTIONS
# PROXY_CPU_SECONDS OTHERS_SHARE" to $tmp/SIDE.runs.
run() {
  case $1 in direct) host=$direct_host port=$direct_port ;; proxied) host=$proxy_host port=$proxy_port ;; esac
  reset_tables
  wait_for_quiet "$quiet_wait" || true   # busy all the same: the run reports other jobs' share
  t0=$(ticks)
  timeout "$bound" "$pgbench" -n -M "$3" -b "$2" -c "$clients" -j "$clients" -T "$duration" \
    -h "$host" -p "$port" bench >"$tmp/pgbench.out" 2>&1 3>&- || { cat "$tmp/pgbench.out" >&2; exit 3; }
  sleep 0.5   # the backends exit and are reaped
  t1=$(ticks)
  tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time).*/\1/p' "$tmp/pgbench.out")
  latency=$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' "$tmp/pgbench.out")
  n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$tmp/pgbench.out")
  failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$tmp/pgbench.out")
  if [ -z "$tps" ] || [ -z "$latency" ] || [ -z "$n" ]; then cat "$tmp/pgbench.out" >&2; exit 3; fi
  [ "${failed:-0}" = 0 ] || { echo "pgbench: $failed failed transactions ($1)" >&2; cat "$tmp/pgbench.out" >&2; exit 3; }
  echo "$tps $latency $n $(echo "$t0 $t1" | awk -v hz="$(getconf CLK_TCK)" '{
      p = $5 - $1; m = $8 - $4; o = m > 0 ? (m - p - ($6 - $2) - ($7 - $3)) / m : 0
      printf "%s %s\n", p / hz, (o > 0 ? o : 0) }')" >>"$tmp/$1.runs"
}

column_median() { cut -d ' ' -f "$2" "$tmp/$1.runs" | median; }

echo "pgbench directly vs through the wire proxy: $clients clients, scale $scale, ${duration} s per run, $rounds rounds"
echo "  server: PostgreSQL $(value server), $(nproc) cores; pgbench: $pgbench"
echo "  load at start:$(uptime | sed 's/.*load average//')"
: >"$tmp/summary"
for script in $scripts; do
  requests=$(requests_of "$script")
  for mode in $modes; do
    echo "$script, -M $mode ($requests request(s) per transaction):"
    rm -f "$tmp/direct.runs" "$tmp/proxied.runs"
    r=1
    while [ "$r" -le "$rounds" ]; do
      if [ $((r % 2)) = 1 ]; then run direct "$script" "$mode"; run proxied "$script" "$mode"
      else run proxied "$script" "$mode"; run direct "$script" "$mode"; fi
      # shellcheck disable=SC2046  # ten numbers, split on purpose
      set -- $(tail -n 1 "$tmp/direct.runs") $(tail -n 1 "$tmp/proxied.runs")
      awk -v r="$r" -v dt="$1" -v dl="$2" -v od="$5" -v pt="$6" -v pl="$7" -v pn="$8" -v pc="$9" -v op="${10}" \
        -v q="$requests" 'BEGIN {
        printf "  round %d: direct %8.1f tps, %6.3f ms  proxied %8.1f tps, %6.3f ms, proxy cpu %5.1f us/request  ratio %.3f  others %2.0f%%/%2.0f%%\n",
          r, dt, dl, pt, pl, pc / (pn * q) * 1e6, pt / dt, 100 * od, 100 * op }'
      r=$((r + 1))
    done
    # The spread: each round's proxied tps over the direct tps of the same round.
    spread=$(paste -d ' ' "$tmp/direct.runs" "$tmp/proxied.runs" | awk '{
        r = $6 / $1; list = list sprintf(" %.3f", r)
        if (NR == 1 || r < lo) lo = r; if (NR == 1 || r > hi) hi = r
      } END { printf "%s (min %.3f, max %.3f)", list, lo, hi }')
    cpu=$(awk -v q="$requests" '{ print $4 / ($3 * q) * 1e6 }' "$tmp/proxied.runs" | median)
    others=$(cat "$tmp/direct.runs" "$tmp/proxied.runs" | awk '{
        if (NR == 1 || $5 < lo) lo = $5; if (NR == 1 || $5 > hi) hi = $5
      } END { printf "%.0f-%.0f%%", 100 * lo, 100 * hi }')
    awk -v s="$script" -v m="$mode" -v q="$requests" -v cpu="$cpu" -v spread="$spread" -v others="$others" \
      -v dt="$(column_median direct 1)" -v dl="$(column_median direct 2)" \
      -v pt="$(column_median proxied 1)" -v pl="$(column_median proxied 2)" 'BEGIN {
      added = (pl - dl) * 1000 / q
      printf "  medians: direct %.1f tps, %.3f ms; proxied %.1f tps, %.3f ms\n", dt, dl, pt, pl
      printf "  ratio proxied/direct %.3f; per round:%s\n", pt / dt, spread
      printf "  through the proxy a request takes %.1f us longer (latency averages); the proxy uses %.1f us of CPU per request\n", added, cpu
      printf "  other jobs took %s of the CPU during these runs\n", others
      printf "%-12s %-9s %9.1f %9.1f %6.3f %8.1f %8.1f  %s\n", s, m, dt, pt, pt / dt, added, cpu, others >> "'"$tmp/summary"'"
    }'
  done
done
echo "  load at end:$(uptime | sed 's/.*load average//')"
echo "summary (medians of $rounds rounds; us per request: added latency, proxy CPU):"
printf '%-12s %-9s %9s %9s %6s %8s %8s  %s\n' script mode direct proxied ratio "+us/req" "cpu us" others
cat "$tmp/summary"
