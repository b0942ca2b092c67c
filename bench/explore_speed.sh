#!/bin/sh
# Exploration speed: schedules (statement level: executions) per second of
# the exploration's wall time, over RUNS runs each (median, min and max),
# for:
#   explore transfer.read_modify_write --workers 2 --max-switches 3   (1079 executions, 16 draws)
#   explore transfer.read_modify_write --workers 3 --max-switches 1
#   run queue.claim_skip_locked --max-schedules 2000                  (all 1680 interleavings)
# and the runners each used (the report's schedules.runners; absent from
# reports of pgrace before the runner pool). Every run starts its own
# ephemeral server and waits for a quiet machine first.
#
#   bench/explore_speed.sh [PGRACE_BINARY]     (default: build/pgrace)
#
# Environment: RUNS (default 5), SEED (default 1), QUIET_WAIT (seconds to wait
# for a quiet machine before each run, default 30; 0: do not wait).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/bench_lib.sh"
pgrace=$(pgrace_program "$root" "${1:-}")
command -v jq >/dev/null || { echo "jq is needed to read the reports" >&2; exit 2; }
runs=${RUNS:-5}
seed=${SEED:-1}

with_temp_dir

# measure NAME ARGS...: RUNS runs of `pgrace ARGS`, one table row.
measure() {
  name=$1
  shift
  rates="" runners="" explored=""
  i=0
  while [ "$i" -lt "$runs" ]; do
    wait_for_quiet "${QUIET_WAIT:-30}" || echo "(the machine stayed busy)" >&2
    timeout 900 "$pgrace" "$@" --seed "$seed" --report "$tmp/report.json" -q >"$tmp/out" 2>&1 || true
    # Before the pool, interleave mode's rate counted only the steps' time
    # (phases_ms.run); its wall time is the sum of the phases, as one runner
    # ran them all.
    rates="$rates $(jq '.scenarios[0] | if .schedules.runners == null
      then .schedules.explored / ((.phases_ms.reset + .phases_ms.run + .phases_ms.check) / 1000)
      else .throughput_tps end' "$tmp/report.json")"
    runners=$(jq '.scenarios[0].schedules.runners // 1' "$tmp/report.json")
    explored=$(jq '.scenarios[0].schedules.explored' "$tmp/report.json")
    i=$((i + 1))
  done
  summary=$(echo "$rates" | tr ' ' '\n' | grep . | sort -n |
    awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
                              printf "%6.0f %6.0f %6.0f", m, v[1], v[NR] }')
  printf '%-34s %9s %8s %s\n' "$name" "$explored" "$runners" "$summary"
}

printf '%-34s %9s %8s %6s %6s %6s\n' "exploration" "schedules" "runners" "median" "min" "max"
measure "read_modify_write, 2 workers, <=3" explore transfer.read_modify_write --workers 2 --max-switches 3 -o balance=1000000
measure "read_modify_write, 3 workers, <=1" explore transfer.read_modify_write --workers 3 --max-switches 1 -o balance=1000000
measure "queue.claim_skip_locked, 1680" run queue.claim_skip_locked --max-schedules 2000
