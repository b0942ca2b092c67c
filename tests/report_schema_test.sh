#!/bin/sh
# report_schema_test.sh PGRACE_BINARY REPO_ROOT
#
# Invariant: every JSON report pgrace writes, in both scenario modes, is valid
# against reports/pgrace-report.schema.json, agrees with itself (summary
# counts, detection rates, exit code; in interleave mode the schedule counts,
# the violating schedules and the minimal reproducer), and the JUnit XML
# written next to it parses and has one testcase per scenario. It runs
#   pgrace run 'transfer.*' 'pool.*' 'payment.*' 'hermitage.g2*' 'plan.*' examples/python/*.pgrace.toml --repeat 2
#     (stress + interleave + check + scenario files, >= 27 scenarios)
#   pgrace explore transfer.lost_update_schedule --schedule ... (a waited step, an infeasible schedule)
#   and explorations that end in verdict "error" (one report each): --budget
#   running out, --max-switches leaving no
#   schedule, --timeout during the first schedule, --max-schedules stopping
#   a statement-level exploration before any violation
# on ephemeral servers, so it needs the PostgreSQL server packages, and checks
# that the schema still rejects a corrupted copy of the report. It needs
# python3 with jsonschema (Debian: python3-jsonschema) and fails, never skips,
# when that is missing. PYTHON overrides the interpreter.
set -u

if [ $# -ne 2 ]; then
  echo "usage: $0 PGRACE_BINARY REPO_ROOT" >&2
  exit 2
fi
pgrace=$1
schema=$2/reports/pgrace-report.schema.json
python=${PYTHON:-python3}
min_run_scenarios=27  # 11 transfer.* (9 stress, 2 interleave) + 4 pool.* + 2 payment.* (stress) + 6 hermitage.g2* (interleave) + 4 plan.* (check)

fail() {
  echo "report_schema_test: FAIL: $*" >&2
  exit 1
}

[ -x "$pgrace" ] || fail "pgrace binary '$pgrace' is not executable (build the pgrace target first)"
[ -r "$schema" ] || fail "schema '$schema' is not readable (is '$2' the repository root?)"
command -v "$python" >/dev/null 2>&1 || fail "'$python' not found: install python3 (apt-get install python3)"
if ! "$python" -c 'import jsonschema' >/dev/null 2>&1; then
  fail "the Python module jsonschema is missing for '$(command -v "$python")': install it" \
       "(Debian/Ubuntu: apt-get install python3-jsonschema; or: $python -m pip install jsonschema)"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pgrace-report-schema.XXXXXX") || fail "mktemp failed"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run_pgrace NAME ARGS...: runs pgrace ARGS... --report $tmp/NAME.json
# --junit $tmp/NAME.xml -q and records its exit code in $tmp/NAME.rc.
run_pgrace() {
  name=$1
  shift
  "$pgrace" "$@" --report "$tmp/$name.json" --junit "$tmp/$name.xml" -q >"$tmp/$name.out" 2>&1
  rc=$?
  case $rc in
    0) ;;
    1) echo "report_schema_test: note: pgrace $1: some scenario did not match its expectation (exit 1); checking the report anyway" ;;
    *) cat "$tmp/$name.out" >&2; fail "pgrace $* exited with $rc (2: usage, 3: infrastructure); no report to check" ;;
  esac
  [ -s "$tmp/$name.json" ] || fail "pgrace $1 exited $rc but wrote no JSON report"
  [ -s "$tmp/$name.xml" ] || fail "pgrace $1 exited $rc but wrote no JUnit XML"
  echo "$rc" >"$tmp/$name.rc"
}

# Stress, interleave and check scenarios in one report, with the scenario
# files of examples/python (worker processes).
run_pgrace run run 'transfer.*' 'pool.*' 'payment.*' 'hermitage.g2*' 'plan.*' "$2"/examples/python/*.pgrace.toml \
  --repeat 2 --shard 1/1
# Three fixed schedules of the lost-update transfer: the one the scenario
# lists (violating), one where w2 waits on s1's lock (violating), and one
# where c1's session is still waiting when its turn comes (infeasible).
run_pgrace explore explore transfer.lost_update_schedule \
  --schedule "b1 b2 r1 r2 w1 c1 w2 c2" \
  --schedule "b1 b2 r1 r2 w1 w2 c1 c2" \
  --schedule "b1 b2 r1 r2 w2 w1 c1 c2"
# One shard of a statement-level exploration of three input draws.
run_pgrace shard explore transfer.check_then_debit --workers 2 --seed 1 --max-switches 1 --draws 3 --shard 2/3
# Interleave runs with verdict "error": the report must still be valid.
error_labels="budget no_switches timeout late_timeout partial"
run_pgrace budget explore transfer.lost_update_schedule_for_update --budget 0.1
run_pgrace no_switches explore queue.claim_unlocked --max-switches 0
run_pgrace timeout explore queue.claim_unlocked --timeout 0.1  # 1680 schedules: seconds
run_pgrace partial explore transfer.for_update --workers 2 --seed 3 --max-schedules 2
# A timeout after some schedule violated (the first of 1000 copies of the
# lost update does, in milliseconds; all 1000 take seconds): the report keeps
# that schedule as its reproducer.
set --
while [ $# -lt 2000 ]; do set -- "$@" --schedule "b1 b2 r1 r2 w1 c1 w2 c2"; done
run_pgrace late_timeout explore transfer.lost_update_schedule --timeout 0.5 --max-schedules 1000 "$@"

"$python" - "$schema" "$tmp" "$min_run_scenarios" "$error_labels" <<'EOF'
import copy
import json
import sys
import xml.etree.ElementTree as ET
from importlib import metadata

import jsonschema

schema_path, tmp, min_run_scenarios, error_labels = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split()
problems = []

with open(schema_path) as f:
    schema = json.load(f)
cls = jsonschema.Draft202012Validator
cls.check_schema(schema)  # the schema itself is valid draft 2020-12
checker = getattr(cls, "FORMAT_CHECKER", None) or jsonschema.FormatChecker()
validator = cls(schema, format_checker=checker)


def schema_problems(report, label):
    out = []
    for error in sorted(validator.iter_errors(report), key=lambda e: list(e.absolute_path)):
        where = "/" + "/".join(str(p) for p in error.absolute_path)
        out.append(f"{label}: schema: at {where}: {error.message[:300]}")
    return out


def check_interleave(s, p):
    """Consistency of an interleave scenario that the schema cannot express."""
    name = s["name"]
    sch = s["schedules"]
    vs = sch["violating_schedules"]
    if sch["explored"] != s["repetitions"]:
        p(f"{name}: schedules.explored {sch['explored']} != repetitions {s['repetitions']}")
    if sch["violating"] != s["violating_runs"]:
        p(f"{name}: schedules.violating {sch['violating']} != violating_runs {s['violating_runs']}")
    if sch["explored"] > sch["total"]:
        p(f"{name}: explored {sch['explored']} schedules of {sch['total']}")
    if sch["violating"] + sch["infeasible"] > sch["explored"]:
        p(f"{name}: violating {sch['violating']} + infeasible {sch['infeasible']} > explored {sch['explored']}")
    if len(vs) != min(sch["violating"], 20):
        p(f"{name}: {len(vs)} violating_schedules, violating is {sch['violating']} (at most 20 are listed)")
    shrunk = sch["shrinking"]
    if shrunk and shrunk["original"] != vs[0]:
        p(f"{name}: shrinking.original is not violating_schedules[0]")
    if not shrunk and sch["minimal_reproducer"] != (vs[0] if vs else None):
        p(f"{name}: minimal_reproducer is neither shrunk nor violating_schedules[0]")
    if shrunk and shrunk["invariant"] not in sch["minimal_reproducer"]["violated"]:
        p(f"{name}: the reproducer does not violate {shrunk['invariant']}, the invariant it was shrunk for")
    def switches(v):
        sessions = [st["session"] for st in v["steps"]]
        return sum(a != b for a, b in zip(sessions, sessions[1:]))
    if [switches(v) for v in vs] != sorted(switches(v) for v in vs):
        p(f"{name}: violating_schedules are not ordered by context switches, fewest first")
    if sch["minimal_reproducer"] and vs and switches(sch["minimal_reproducer"]) > switches(vs[0]):
        p(f"{name}: the reproducer has more context switches than the first violating schedule")
    bounds = sch["by_switches"]
    if sum(b["explored"] for b in bounds) != sch["explored"]:
        p(f"{name}: by_switches explored {sum(b['explored'] for b in bounds)} != explored {sch['explored']}")
    if sum(b["violated"] for b in bounds) != sch["violating"]:
        p(f"{name}: by_switches violated {sum(b['violated'] for b in bounds)} != violating {sch['violating']}")
    for b in bounds:
        if b["held"] + b["violated"] + b["infeasible"] != b["explored"] or b["explored"] > b["total"]:
            p(f"{name}: by_switches entry {b} does not add up")
    inv_names = [i["name"] for i in s["invariants"]]
    union = set()
    for k, v in enumerate(vs):
        where = f"{name}: violating_schedules[{k}]"
        if [st["step"] for st in v["steps"]] != v["schedule"]:
            p(f"{where}: steps[].step {[st['step'] for st in v['steps']]} != schedule {v['schedule']}")
        if [n for n in inv_names if n in v["violated"]] != v["violated"]:
            p(f"{where}: violated {v['violated']} are not invariants of the scenario in their order")
        union |= set(v["violated"])
        done = sorted((st for st in v["steps"] if st["completed_as"] is not None), key=lambda st: st["completed_as"])
        if [st["completed_as"] for st in done] != list(range(len(done))):
            p(f"{where}: completed_as values are not 0..{len(done) - 1}")
        if [st["step"] for st in done] != v["completion_order"]:
            p(f"{where}: completion_order {v['completion_order']} disagrees with steps[].completed_as")
    not_held = {i["name"] for i in s["invariants"] if not i["held"]}
    if not union <= not_held:
        p(f"{name}: violating schedules violate {sorted(union - not_held)}, which the invariants say held")
    if len(vs) == sch["violating"]:  # the list is complete
        if union != not_held:
            p(f"{name}: invariants violated {sorted(not_held)}, the violating schedules {sorted(union)}")
        for i in s["invariants"]:
            n = sum(i["name"] in v["violated"] for v in vs)
            if i["violated_runs"] != n:
                p(f"{name}: invariant {i['name']!r} violated_runs {i['violated_runs']}, in {n} listed schedules")
    # matched: the invariants violated in any schedule are exactly the expected ones (never with verdict error).
    if s["matched"] != (s["verdict"] != "error" and not_held == set(s["expectation"]["violated"])):
        p(f"{name}: matched {s['matched']}, but violated {sorted(not_held)} vs expected {s['expectation']['violated']}")


def check(label, report, rc, junit_path):
    """Problems with one report and its JUnit file; [] when it is fine."""
    out = schema_problems(report, label)
    p = lambda text: out.append(f"{label}: {text}")
    if not out:  # consistency only when the shape is right
        scenarios = report["scenarios"]
        if report["exit_code"] != rc:
            p(f"report says exit_code {report['exit_code']}, pgrace exited {rc}")
        matched = sum(s["matched"] for s in scenarios)
        errors = sum(s["verdict"] == "error" for s in scenarios)
        summary = report["summary"]
        if summary != {"scenarios": len(scenarios), "matched": matched, "mismatched": len(scenarios) - matched, "errors": errors}:
            p(f"summary {summary} disagrees with the scenarios")
        if report["exit_code"] != (0 if matched == len(scenarios) else 1):
            p("exit_code disagrees with the scenarios' matched flags")
        if report["server"]["source"] == "ephemeral" and report["server"]["provision_ms"] is None:
            p("ephemeral server without provision_ms")
        if report["seed_text"] != str(report["seed"]):
            p(f"seed_text {report['seed_text']!r} is not the seed {report['seed']}")
        shard = report["shard"]
        if shard is not None and not (shard["index"] <= shard["count"] and len(scenarios) <= shard["selected"]):
            p(f"shard {shard} does not fit {len(scenarios)} scenarios")
        for s in scenarios:
            name = s["name"]
            part = s["schedules"] and s["schedules"]["shard"]
            if part and (shard is None or (part["index"], part["count"]) != (shard["index"], shard["count"])):
                p(f"{name}: schedules.shard {part} is not the report's shard {shard}")
            if part and part["empty"] != (part["index"] > part["parts"]) or part and part["empty"] and s["schedules"]["explored"]:
                p(f"{name}: schedules.shard {part} is empty only when its index exceeds the parts, and then explored nothing")
            if s["config"]["seed"] != report["seed"]:
                p(f"{name}: config.seed {s['config']['seed']} != seed {report['seed']}")
            if s["config"]["seed_text"] != report["seed_text"]:
                p(f"{name}: config.seed_text {s['config']['seed_text']!r} != seed_text {report['seed_text']!r}")
            if s["violating_runs"] > s["repetitions"]:
                p(f"{name}: violating_runs > repetitions")
            if abs(s["detection_rate"] - (s["violating_runs"] / s["repetitions"] if s["repetitions"] else 0)) > 1e-9:
                p(f"{name}: detection_rate is not violating_runs / repetitions")
            ended = sum(s["outcomes"].values())
            if s["schedules"] and s["schedules"]["statement_workers"]:
                # Statement level: outcomes count transactions, attempts and sqlstates requests.
                if sum(s["sqlstates"].values()) > s["attempts"]:
                    p(f"{name}: {sum(s['sqlstates'].values())} failed requests of {s['attempts']}")
            else:
                if s["attempts"] != ended + s["retries"]:
                    p(f"{name}: attempts {s['attempts']} != ended {ended} + retries {s['retries']}")
                failed = s["attempts"] - s["outcomes"].get("committed", 0) - s["outcomes"].get("rejected", 0)
                if sum(s["sqlstates"].values()) != failed:
                    p(f"{name}: sqlstates count {sum(s['sqlstates'].values())} failed attempts, expected {failed}")
            names = [i["name"] for i in s["invariants"]]
            # A run that ended in verdict error before asking for its invariants lists none.
            for v in s["expectation"]["violated"] if names or s["verdict"] != "error" else []:
                if v not in names:
                    p(f"{name}: expected-violated invariant {v!r} is not among its invariants")
            for i in s["invariants"]:
                if i["violated_runs"] > s["violating_runs"]:
                    p(f"{name}: invariant {i['name']!r} violated in more runs than the scenario")
            if s["mode"] in ("stress", "check"):
                if s["verdict"] != "error" and s["repetitions"] != report["repeat"]:
                    p(f"{name}: {s['repetitions']} repetitions, --repeat {report['repeat']}")
                fv = s["first_violation_ms"]
                if fv is not None and len(fv["per_run"]) != s["violating_runs"]:
                    p(f"{name}: first_violation_ms.per_run has {len(fv['per_run'])} entries, violating_runs is {s['violating_runs']}")
                pool = s["pool"]
                if pool is None and "pool_timeout" in s["outcomes"]:
                    p(f"{name}: pool_timeout outcomes without a pool")
                if pool is not None:
                    if pool["timeouts"] > pool["acquires"] or pool["leaked"] > pool["peak_leased"] or pool["peak_leased"] > pool["size"]:
                        p(f"{name}: pool {pool} does not add up (timeouts <= acquires, leaked <= peak_leased <= size)")
                    if s["outcomes"].get("pool_timeout", 0) > pool["timeouts"]:
                        p(f"{name}: {s['outcomes']['pool_timeout']} pool_timeout outcomes, only {pool['timeouts']} acquires timed out")
                    w = pool["wait_ms"]
                    if not w["p50"] <= w["p90"] <= w["p99"] <= w["max"]:
                        p(f"{name}: pool wait percentiles {w} are not ordered")
            else:
                check_interleave(s, p)

    # JUnit: parses, one testcase per scenario, failures/errors as documented.
    try:
        root = ET.parse(junit_path).getroot()
    except ET.ParseError as e:
        p(f"junit: {junit_path} does not parse: {e}")
        return out
    cases = root.findall(".//testcase")
    if root.tag != "testsuites":
        p(f"junit: root element is <{root.tag}>, expected <testsuites>")
    if root.get("tests") != str(len(cases)):
        p(f"junit: tests=\"{root.get('tests')}\" but {len(cases)} testcases")
    if isinstance(report.get("scenarios"), list):
        if len(cases) != len(report["scenarios"]):
            p(f"junit: {len(cases)} testcases, the JSON report has {len(report['scenarios'])} scenarios")
        if not any(x.startswith(f"{label}: schema:") for x in out):
            by_name = {s["name"]: s for s in report["scenarios"]}
            for case in cases:
                s = by_name.get(case.get("name"))
                if s is None:
                    p(f"junit: testcase {case.get('name')!r} is not in the JSON report")
                    continue
                has_failure = case.find("failure") is not None
                has_error = case.find("error") is not None
                if has_error != (s["verdict"] == "error"):
                    p(f"junit: {s['name']}: <error> present={has_error}, verdict {s['verdict']}")
                if has_failure != (not s["matched"] and s["verdict"] != "error"):
                    p(f"junit: {s['name']}: <failure> present={has_failure}, matched {s['matched']}")
                for kind in ("failure", "error"):
                    element = case.find(kind)
                    if element is not None and not element.get("type"):
                        p(f"junit: {s['name']}: <{kind}> without a type")
                props = {e.get("name"): e.get("value") for e in case.findall("properties/property")}
                if props.get("seed") != report["seed_text"] or props.get("isolation") != s["config"]["isolation"]:
                    p(f"junit: {s['name']}: testcase properties {props} disagree with the report")
                # Scenarios registered by PGRACE_REGISTER_SCENARIO point at their source.
                if s["name"].startswith("transfer.") and not (case.get("file", "").endswith(".cpp") and int(case.get("line", "0")) > 0):
                    p(f"junit: {s['name']}: no file/line attributes")
    return out


reports = {}
for label in ["run", "explore", "shard"] + error_labels:
    path = f"{tmp}/{label}.json"
    try:
        with open(path) as f:
            reports[label] = json.load(f)
    except ValueError as e:
        print(f"report_schema_test: FAIL: {path} ({label}) is not JSON: {e}", file=sys.stderr)
        sys.exit(1)
    with open(f"{tmp}/{label}.rc") as f:
        rc = int(f.read())
    problems += check(label, reports[label], rc, f"{tmp}/{label}.xml")

# What each run must contain, so that both modes and every kind of schedule
# object are actually validated.
if not problems:
    run = reports["run"]
    modes = [s["mode"] for s in run["scenarios"]]
    if len(modes) < min_run_scenarios:
        problems.append(f"run: {len(modes)} scenarios, expected at least {min_run_scenarios} (11 transfer.*, 4 pool.*, 2 payment.*, 6 hermitage.g2*, 4 plan.*)")
    if run["repeat"] != 2:
        problems.append(f"run: repeat is {run['repeat']}, expected 2")
    if not {"stress", "interleave", "check"} <= set(modes):
        problems.append(f"run: modes {sorted(set(modes))}, expected stress, interleave and check")
    plans = [i for s in run["scenarios"] for i in s["invariants"] if i["kind"] == "uses_index"]
    if not any(i["witnesses"] for i in plans) or not all("enable_seqscan = off" in i["plan"]["settings"] for i in plans):
        problems.append("run: expected uses_index invariants, one violated, all with their plan settings")
    if not any(s["faults"].get("drop_reply", 0) > 0 and s["requests"] and any(q["fault"] == "drop_reply" for q in s["requests"]["list"])
               for s in run["scenarios"]):
        problems.append("run: no scenario injected faults and listed its requests with one (payment.retry_any_error should)")
    if not any(s["pool"] and s["pool"]["timeouts"] > 0 and s["pool"]["leaked"] > 0 for s in run["scenarios"]):
        problems.append("run: no scenario has a pool with timeouts and leaks (pool.leak should)")
    if not any(s["mode"] == "interleave" and s["schedules"]["minimal_reproducer"] for s in run["scenarios"]):
        problems.append("run: no interleave scenario has a minimal reproducer (hermitage.g2.read_committed should)")
    ex = reports["explore"]
    if [s["mode"] for s in ex["scenarios"]] != ["interleave"]:
        problems.append("explore: expected one interleave scenario")
    else:
        sch = ex["scenarios"][0]["schedules"]
        if (sch["total"], sch["explored"], sch["infeasible"], sch["violating"]) != (3, 3, 1, 2):
            problems.append(f"explore: total/explored/infeasible/violating "
                            f"{(sch['total'], sch['explored'], sch['infeasible'], sch['violating'])}, expected (3, 3, 1, 2)")
        if not any(st["waited"] for v in sch["violating_schedules"] for st in v["steps"]):
            problems.append("explore: no step of a violating schedule waited (b1 b2 r1 r2 w1 w2 c1 c2: w2 should)")
    sh = reports["shard"]["scenarios"][0]["schedules"]["shard"]
    if reports["shard"]["shard"] != {"index": 2, "count": 3, "selected": 1} or not sh or sh["empty"] or sh["discovery"] < 1:
        problems.append(f"shard: expected shard 2/3 of one scenario, a part of its own and first executions run to find it, got {sh}")
    for label in error_labels:
        verdicts = [(s["mode"], s["verdict"]) for s in reports[label]["scenarios"]]
        if verdicts != [("interleave", "error")]:
            problems.append(f"{label}: expected one interleave scenario with verdict error, got {verdicts}")
    if not problems and reports["late_timeout"]["scenarios"][0]["schedules"]["violating"] < 1:
        problems.append("late_timeout: no schedule violated before the timeout (the first should, in milliseconds)")

# The schema must still reject corrupted reports (it is not vacuous).
if not problems:
    base = reports["run"]
    target = next(s for s in base["scenarios"] if s["mode"] == "interleave" and s["schedules"]["minimal_reproducer"])
    index = base["scenarios"].index(target)

    def corrupt(change):
        r = copy.deepcopy(base)
        change(r["scenarios"][index], r)
        return r

    corruptions = {
        'a step outcome "maybe"': lambda s, r: s["schedules"]["minimal_reproducer"]["steps"][0].__setitem__("outcome", "maybe"),
        "an interleave scenario without schedules": lambda s, r: s.__setitem__("schedules", None),
        "a stress scenario with schedules": lambda s, r: next(x for x in r["scenarios"] if x["mode"] == "stress")
                                                           .__setitem__("schedules", s["schedules"]),
        "a violating schedule that violated nothing": lambda s, r: s["schedules"]["violating_schedules"][0].__setitem__("violated", []),
        "a missing mode": lambda s, r: s.pop("mode"),
        "an unredacted password": lambda s, r: r["server"].__setitem__("dsn", "host=x password=hunter2"),
        "a seed_text that is not a number": lambda s, r: r.__setitem__("seed_text", "12a"),
        "a shard without its count": lambda s, r: r.__setitem__("shard", {"index": 1, "selected": 3}),
        "an interleave scenario with a pool": lambda s, r: s.__setitem__("pool", next(x for x in r["scenarios"] if x["pool"])["pool"]),
        "a pool without its peak": lambda s, r: next(x for x in r["scenarios"] if x["pool"])["pool"].pop("peak_leased"),
        "an outcome \"pool_exhausted\"": lambda s, r: next(x for x in r["scenarios"] if x["pool"])["outcomes"].__setitem__("pool_exhausted", 1),
    }
    for what, change in corruptions.items():
        if validator.is_valid(corrupt(change)):
            problems.append(f"schema accepts {what}")

if problems:
    print(f"report_schema_test: FAIL: {len(problems)} problem(s):", file=sys.stderr)
    for p in problems[:50]:
        print("  " + p, file=sys.stderr)
    sys.exit(1)
counts = {label: len(r["scenarios"]) for label, r in reports.items()}
stress = sum(s["mode"] == "stress" for s in reports["run"]["scenarios"])
print(f"report_schema_test: ok: reports valid against {schema_path} (jsonschema {metadata.version('jsonschema')}): "
      f"run {counts['run']} scenarios ({stress} stress, {counts['run'] - stress} interleave), "
      f"explore {counts['explore']}; JUnit testcases match; {len(corruptions)} corrupted copies rejected")
EOF
status=$?
[ $status -eq 0 ] || exit 1
exit 0
