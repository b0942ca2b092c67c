#!/bin/sh
# Wall time of the main command a user runs,
#   pgrace run 'transfer.*' --report reports/transfer.json --junit reports/transfer.xml
# on a warm machine: one untimed run to warm the template-cluster cache and the
# page cache, then RUNS timed runs; prints min/median/max. The reports go to a
# temp dir, not to reports/.
#
#   bench/main_command_time.sh [PGRACE_BINARY]     (default: build/pgrace)
#
# Environment: RUNS (timed runs, default 5).
# Each run starts and stops its own ephemeral server (that is part of the
# time). Bounded: each run under timeout(1). Temp files are removed on exit.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/bench_lib.sh"
pgrace=$(pgrace_program "$root" "${1:-}")
runs=${RUNS:-5}

with_temp_dir

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# One run of the main command; appends its wall time (s) to $tmp/times.
one_run() {
  rc=0
  start=$(now_ms)
  timeout 600 "$pgrace" run 'transfer.*' --report "$tmp/transfer.json" --junit "$tmp/transfer.xml" \
    >"$tmp/out" 2>&1 &
  child=$!
  wait "$child" || rc=$?
  child=
  wall=$(($(now_ms) - start))
  # 0: every scenario matched; 1: some did not (a result, still timed); else broken.
  if [ $rc -gt 1 ] || [ ! -s "$tmp/transfer.json" ]; then
    echo "pgrace run failed (exit $rc):" >&2
    cat "$tmp/out" >&2
    exit 3
  fi
  summary=$(jq -r '"\(.summary.matched)/\(.summary.scenarios) matched, phases (ms): " +
    ([.scenarios[] | "\(.name | sub("^transfer\\."; ""))=\(.phases_ms.run + .phases_ms.setup + .phases_ms.reset + .phases_ms.check + .phases_ms.teardown | round)"] | join(" ")) +
    ", server \(.server.provision_ms.total | round)"' "$tmp/transfer.json")
  if [ "$1" = warm-up ]; then
    printf '  warm-up: %6.2f s  (exit %d; %s)\n' "$(echo "$wall" | awk '{ print $1 / 1000 }')" "$rc" "$summary"
  else
    echo "$wall" | awk '{ print $1 / 1000 }' >>"$tmp/times"
    printf '  run %d:   %6.2f s  (exit %d; %s)\n' "$1" "$(echo "$wall" | awk '{ print $1 / 1000 }')" "$rc" "$summary"
  fi
}

echo "pgrace run 'transfer.*' --report ... --junit ...: 1 warm-up + $runs timed runs, $(nproc) cores"
one_run warm-up
i=1
while [ $i -le "$runs" ]; do one_run $i; i=$((i + 1)); done
sort -n "$tmp/times" | awk '{ v[NR] = $1 } END {
  m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
  printf "wall time (s): min %.2f, median %.2f, max %.2f\n", v[1], m, v[NR] }'
