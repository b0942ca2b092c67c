#!/bin/sh
# Detection rate and time-to-detection of the transfer scenarios, with their
# default knobs, on the ephemeral server: every unsafe scenario should be
# caught in every run (N/N), every safe one never (0/N false alarms).
#
#   bench/detection.sh [PGRACE_BINARY]     (default: build/pgrace)
#
# Environment: REPEAT (runs per scenario, default 20).
#
# Each scenario is one `pgrace run NAME --repeat N`, which starts (and stops)
# its own ephemeral server; "wall" is that whole command, server included.
# Bounded: each command runs under timeout(1). Temp files are removed on exit.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/bench_lib.sh"
pgrace=$(pgrace_program "$root" "${1:-}")
repeat=${REPEAT:-20}
command -v jq >/dev/null || { echo "jq is needed to read the reports" >&2; exit 2; }

with_temp_dir

unsafe="transfer.read_modify_write transfer.check_then_debit transfer.for_update_unordered transfer.pool_misuse transfer.article_fix"
safe="transfer.for_update transfer.serializable_retry transfer.pool_checkout transfer.article_guarded"

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Runs one scenario and prints one table row. $2: "detected" or "false alarms".
measure() {
  name=$1 label=$2
  rm -f "$tmp/report.json"
  start=$(now_ms)
  rc=0
  timeout 600 "$pgrace" run "$name" --repeat "$repeat" --report "$tmp/report.json" -q >"$tmp/out" 2>&1 &
  child=$!
  wait "$child" || rc=$?
  child=
  wall=$(($(now_ms) - start))
  if [ ! -s "$tmp/report.json" ] || [ $rc -gt 1 ]; then
    printf '%-30s  error (exit %d): %s\n' "$name" "$rc" "$(tail -n 1 "$tmp/out")"
    failures=$((failures + 1))
    return 0
  fi
  [ $rc -eq 0 ] || failures=$((failures + 1))
  jq -r --arg what "$label" --argjson wall "$wall" '.scenarios[0] as $s
    | ($s.first_violation_ms.per_run // [] | sort) as $p
    | [ $s.name, $s.expectation.verdict,
        "\($s.violating_runs)/\($s.repetitions) \($what)",
        (if ($p | length) == 0 then "-"
         elif ($p | length) % 2 == 1 then $p[($p | length) / 2 | floor]
         else ($p[($p | length) / 2 - 1] + $p[($p | length) / 2]) / 2 end),
        (if ($p | length) > 0 then $p[-1] else "-" end),
        $s.throughput_tps, $wall / 1000,
        (if $s.matched then "yes" else "NO" end) ]
    | @tsv' "$tmp/report.json" >"$tmp/row" || { echo "cannot read the report of $name" >&2; exit 3; }
  awk -F '\t' 'function ms(v) { return v == "-" ? v : sprintf("%.1f", v) }
    { printf "%-30s  %-9s  %-18s  %9s  %9s  %8.0f  %7.1f  %s\n", $1, $2, $3, ms($4), ms($5), $6, $7, $8 }' "$tmp/row"
}

failures=0
echo "transfer scenarios, $repeat runs each, default knobs, ephemeral server, $(nproc) cores"
printf '%-30s  %-9s  %-18s  %9s  %9s  %8s  %7s  %s\n' scenario expects "runs violating" "median ms" "max ms" "tx/s" "wall s" matched
for name in $unsafe; do measure "$name" detected; done
for name in $safe; do measure "$name" "false alarms"; done
echo "first violation: ms after the workers' release, per violating run (the in-run monitor polls every 5 ms)"
[ $failures -eq 0 ] || { echo "$failures scenario(s) did not match their expectation" >&2; exit 1; }
