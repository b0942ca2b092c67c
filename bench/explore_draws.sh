#!/bin/sh
# Detection over seeds of statement-level exploration (pgrace explore NAME
# --workers 2): for each scenario, how many of the seeds 1..10 find a
# violation with one input draw (--draws 1, what explore did before draws)
# and with the default draws, the median time to the first violation, and
# executions per second. A safe scenario's row counts false alarms instead
# (seeds whose exploration violated anything).
#
#   bench/explore_draws.sh [PGRACE_BINARY]     (default: build/pgrace)
#
# Environment: SEEDS (default "1 2 3 4 5 6 7 8 9 10"), SWITCHES (--max-switches,
# default 3), UNSAFE and SAFE (scenario names; an entry "name,-o,key=value"
# passes options), DRAWS (the "after" draws, default: pgrace's default).
# Each exploration starts its own ephemeral server and runs under timeout(1).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/bench_lib.sh"
pgrace=$(pgrace_program "$root" "${1:-}")
command -v jq >/dev/null || { echo "jq is needed to read the reports" >&2; exit 2; }
seeds=${SEEDS:-1 2 3 4 5 6 7 8 9 10}
switches=${SWITCHES:-3}
unsafe=${UNSAFE:-transfer.read_modify_write transfer.check_then_debit transfer.article_fix transfer.for_update_unordered payment.retry_any_error}
safe=${SAFE:-transfer.for_update transfer.serializable_retry transfer.article_guarded}

with_temp_dir

# explore ENTRY SEED DRAWS...: one exploration, its report in $tmp/report.json.
explore() {
  entry=$1 seed=$2
  shift 2
  # shellcheck disable=SC2046,SC2086
  timeout 900 "$pgrace" explore $(echo "$entry" | tr ',' ' ') --workers 2 --max-switches "$switches" --seed "$seed" \
    "$@" --report "$tmp/report.json" -q >"$tmp/out" 2>&1 &
  child=$!
  wait "$child" || true
  child=
}

# median_of "N N ...": their median, rounded, or "-" for none.
median_of() {
  if [ -z "$(echo "$1" | tr -d ' ')" ]; then echo "-"; return; fi
  echo "$1" | tr ' ' '\n' | grep . | median | awk '{ printf "%.0f", $1 }'
}

# row ENTRY: one table row.
row() {
  entry=$1
  found_one=0 found_many=0 times="" rates="" draws=""
  for seed in $seeds; do
    rm -f "$tmp/report.json"
    explore "$entry" "$seed" --draws 1
    [ -s "$tmp/report.json" ] || { echo "$entry seed $seed: $(tail -n 1 "$tmp/out")" >&2; return 0; }
    [ "$(jq '.scenarios[0].schedules.violating' "$tmp/report.json")" -gt 0 ] && found_one=$((found_one + 1))
    rm -f "$tmp/report.json"
    if [ -n "${DRAWS:-}" ]; then explore "$entry" "$seed" --draws "$DRAWS"; else explore "$entry" "$seed"; fi
    [ -s "$tmp/report.json" ] || { echo "$entry seed $seed: $(tail -n 1 "$tmp/out")" >&2; return 0; }
    s=$(jq -r '.scenarios[0].schedules | "\(.violating) \(.first_violation_ms // "-") \(.draws)"' "$tmp/report.json")
    set -- $s
    [ "$1" -gt 0 ] && found_many=$((found_many + 1))
    [ "$2" != "-" ] && times="$times $2"
    draws=$3
    rates="$rates $(jq ".scenarios[0].throughput_tps" "$tmp/report.json")"
  done
  n=$(echo "$seeds" | wc -w)
  printf '%-44s %8s %10s %12s %10s\n' "$entry" "$found_one/$n" "$found_many/$n ($draws)" "$(median_of "$times")" \
    "$(median_of "$rates")"
}

printf '%-44s %8s %10s %12s %10s\n' "unsafe: violated in seeds" "1 draw" "draws" "first ms" "exec/s"
for entry in $unsafe; do row "$entry"; done
printf '%-44s %8s %10s %12s %10s\n' "safe: false alarms in seeds" "1 draw" "draws" "first ms" "exec/s"
for entry in $safe; do row "$entry"; done
