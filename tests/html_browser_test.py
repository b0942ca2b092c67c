#!/usr/bin/env python3
"""html_browser_test.py PGRACE_BINARY CHROMIUM

Invariant: the page `--html FILE` writes renders in a real browser without a
script error, and draws what happened: for a statement-level exploration, an
interleave scenario's run and a stress run with faults, one lane per worker
(session), at least one box per step (request) of the run's report, the
injected faults in a lane of their own, the violated invariant with its
witnesses and the replay command pgrace printed; a stress run without
faults says how to get a timeline. Each pgrace command runs on its own
ephemeral server; each page is loaded from file:// in headless chromium
(--dump-dom) with a fresh profile. Exits 77 (ctest's SKIP_RETURN_CODE) only
when CHROMIUM is not installed.
"""

import html.parser
import json
import os
import shlex
import subprocess
import sys
import tempfile

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.children, self.text = tag, dict(attrs), parent, [], ""

    def classes(self):
        return (self.attrs.get("class") or "").split()

    def all(self, tag=None, cls=None, **attrs):
        """Every descendant with `tag`, class `cls` and the attributes given (None: absent)."""
        found = []
        for child in self.children:
            if ((tag is None or child.tag == tag) and (cls is None or cls in child.classes()) and
                    all(child.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())):
                found.append(child)
            found.extend(child.all(tag, cls, **attrs))
        return found

    def content(self):
        return self.text + "".join(child.content() for child in self.children)


class Tree(html.parser.HTMLParser):
    """The DOM chromium dumped, as a tree of Nodes (text kept in order within a node only roughly)."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.root = self.current = Node("#root", {}, None)
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        node = Node(tag, attrs, self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_endtag(self, tag):
        node = self.current
        while node is not self.root and node.tag != tag:
            node = node.parent
        if node is not self.root:
            self.current = node.parent

    def handle_data(self, data):
        if self.current.children:  # text after a child: keep it after the children's
            self.current.children.append(Node("#text", {}, self.current))
            self.current.children[-1].text = data
        else:
            self.current.text += data


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def run_pgrace(pgrace, tmp, name, *args):
    """Runs pgrace ARGS with --html and --report; returns the report's JSON and the rendered page's Tree."""
    page, report = os.path.join(tmp, name + ".html"), os.path.join(tmp, name + ".json")
    done = subprocess.run([pgrace, *args, "--html", page, "--report", report], capture_output=True, text=True,
                          timeout=240)
    check(done.returncode in (0, 1), f"pgrace {' '.join(args)} exited {done.returncode}: {done.stderr}")
    with open(report) as text:
        return json.load(text), render(page, tmp)


def render(page, tmp):
    profile = tempfile.mkdtemp(dir=tmp)
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           "--user-data-dir=" + profile, "--virtual-time-budget=5000", "--dump-dom",
                           "file://" + page], capture_output=True, text=True, timeout=120)
    check(done.returncode == 0 and done.stdout, f"chromium could not load {page}: {done.stderr[-2000:]}")
    tree = Tree(done.stdout)
    body = tree.root.all("body")[0]
    check("data-error" not in body.attrs, f"{page}: script error: {body.attrs.get('data-error')}")
    check(body.attrs.get("data-rendered") == "ok", f"{page}: the script did not finish rendering")
    return tree


def section_of(tree, name):
    sections = tree.root.all("section", "scenario", data_name=name)
    check(len(sections) == 1, f"no section for {name}")
    return sections[0]


def check_timeline(grid, lanes, boxes, what):
    """The timeline `grid` has `lanes` worker lanes and at least `boxes` boxes."""
    drawn_lanes = [n.content() for n in grid.all(cls="lane-name", data_kind="lane")]
    check(len(drawn_lanes) == lanes, f"{what}: {len(drawn_lanes)} lanes drawn ({drawn_lanes}), expected {lanes}")
    drawn = [b for b in grid.all(cls="box") if "fault" not in b.classes()]
    check(len(drawn) >= boxes, f"{what}: {len(drawn)} boxes drawn, expected at least {boxes}")


def check_violation(section, scenario, replay_words):
    """The violated invariants with their witnesses, and a replay command with `replay_words`; returns it."""
    for inv in scenario["invariants"]:
        if inv["held"]:
            continue
        items = [i for i in section.all("li", "violated") if i.all("b")[0].content() == inv["name"]]
        check(items, f"{scenario['name']}: violated invariant {inv['name']!r} not shown")
        shown = "".join(p.content() for p in items[0].all("pre", "witness"))
        for witness in inv["witnesses"]:
            check(witness in shown, f"{scenario['name']}: witness {witness!r} not shown")
    replay = shlex.split(section.all("pre", "replay")[0].content())
    for word in replay_words:
        check(word in replay, f"{scenario['name']}: {word!r} missing from the replay command {replay}")
    return replay


def test_statement_exploration(pgrace, tmp):
    report, tree = run_pgrace(pgrace, tmp, "explore", "explore", "transfer.check_then_debit", "--workers",
                                        "2", "--max-switches", "3", "--seed", "3")
    scenario = report["scenarios"][0]
    check(scenario["verdict"] == "violated", "the exploration did not violate")
    section = section_of(tree, "transfer.check_then_debit")
    grid = section.all("div", "timeline")[0]
    check("hidden" not in grid.attrs, "the reproducer's timeline is hidden")
    steps = scenario["schedules"]["minimal_reproducer"]["steps"]
    check_timeline(grid, 2, len(steps), "explore reproducer")
    waited = [s for s in steps if s["waited"]]
    shown = [b for b in grid.all(cls="box", data_outcome="waited") if "waited for w" in b.content()]
    check(len(shown) == len(waited), f"{len(waited)} waited steps, {len(shown)} drawn waiting for a worker")
    schedule = " ".join(scenario["schedules"]["minimal_reproducer"]["schedule"])
    replay = check_violation(section, scenario, [pgrace, "explore", scenario["name"], "--seed", "3", schedule])
    again = subprocess.run(replay + ["-q"], capture_output=True, text=True, timeout=120)
    check(again.returncode == 0, f"the replay command did not reproduce the violation: {again.stdout}{again.stderr}")


def test_interleave_run(pgrace, tmp):
    report, tree = run_pgrace(pgrace, tmp, "interleave", "run", "transfer.lost_update_schedule")
    scenario = report["scenarios"][0]
    section = section_of(tree, "transfer.lost_update_schedule")
    grids = section.all("div", "timeline")
    check(len(grids) == 2, f"{len(grids)} timelines, expected the shrunk reproducer and the original")
    check("hidden" not in grids[0].attrs and "hidden" in grids[1].attrs, "the original is not the toggled one")
    check(len(section.all("button")) == 2, "no toggle between the reproducer and the original")
    check_timeline(grids[0], 2, len(scenario["schedules"]["minimal_reproducer"]["steps"]), "interleave reproducer")
    check_timeline(grids[1], 2, len(scenario["schedules"]["shrinking"]["original"]["steps"]), "interleave original")
    check_violation(section, scenario, ["--schedule", " ".join(scenario["schedules"]["minimal_reproducer"]["schedule"])])


def test_stress_with_faults(pgrace, tmp):
    report, tree = run_pgrace(pgrace, tmp, "faults", "run", "payment.retry_any_error", "--threads", "3",
                                        "--fault", "drop_reply:commit:0.5", "--seed", "5")
    scenario = report["scenarios"][0]
    check(scenario["verdict"] == "violated", "the stress run with faults did not violate")
    requests = scenario["requests"]["list"]
    section = section_of(tree, "payment.retry_any_error")
    grid = section.all("div", "timeline")[0]
    check_timeline(grid, 3, len(requests), "stress requests")
    faulted = [q for q in requests if q["fault"]]
    check(faulted, "the recorded repetition has no injected fault")
    check(len(grid.all(cls="lane-name", data_kind="faults")) == 1, "no lane of faults")
    check(len(grid.all(cls="box", data_outcome="fault")) == len(faulted), "not one fault box per injected fault")
    lost = [q for q in requests if q["fault"] == "drop_reply"]
    check(len(grid.all(cls="box", data_outcome="indeterminate")) >= len(lost), "a lost reply is not indeterminate")
    check_violation(section, scenario, ["run", scenario["name"], "--seed", "5", "--fault", "drop_reply:commit:0.5"])


def test_stress_without_faults(pgrace, tmp):
    _, tree = run_pgrace(pgrace, tmp, "plain", "run", "transfer.read_modify_write")
    section = section_of(tree, "transfer.read_modify_write")
    check(not section.all("div", "timeline"), "a stress run without faults drew a timeline")
    hint = section.all("p", "no-timeline")[0].content()
    check("--fault" in hint and "--workers 2" in hint, f"no hint how to get a timeline: {hint!r}")


def main():
    global CHROMIUM
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    pgrace, CHROMIUM = sys.argv[1], sys.argv[2]
    if not os.access(CHROMIUM, os.X_OK):
        print(f"html_browser_test: SKIP: {CHROMIUM} is not installed (scripts/setup.sh installs chromium)")
        return 77
    with tempfile.TemporaryDirectory(prefix="pgrace-html-") as tmp:
        try:
            for test in (test_statement_exploration, test_interleave_run, test_stress_with_faults,
                         test_stress_without_faults):
                test(pgrace, tmp)
                print(f"html_browser_test: {test.__name__}: ok")
        except (Failure, subprocess.TimeoutExpired) as failure:
            print(f"html_browser_test: FAIL: {failure}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
