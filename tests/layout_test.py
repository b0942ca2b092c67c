#!/usr/bin/env python3
"""The layering of harness/ (README, "Layout"): each folder includes only
itself and the folders listed for it, so includes run downward, never back
up to the dispatcher (src/runner) or from the engine into the command line.
Also: no folder of harness/ holds more than MAX_FILES files.
Usage: layout_test.py REPO_ROOT. Exit 1, listing every offending include."""
import pathlib, re, sys

MAX_FILES = 26
# folder (relative to harness/) -> the folders its #include "x/..." may name
ALLOWED = {
    "include/pgrace": {"pgrace"},
    "src/util": {"util"},
    "src/server": {"pgrace", "server"},
    "src/core": {"pgrace", "server", "core"},
    "src/wire": {"pgrace", "server", "wire"},
    "src/report": {"pgrace", "report"},
    "src/faults": {"pgrace", "server", "core", "wire", "faults"},
    "src/steps": {"pgrace", "server", "core", "steps"},
    "src/stress": {"pgrace", "server", "core", "wire", "faults", "stress"},
    "src/statement": {"pgrace", "server", "core", "wire", "faults", "steps", "statement"},
    "src/files": {"pgrace", "server", "core", "wire", "faults", "stress", "statement", "files"},
    "src/runner": {"pgrace", "server", "core", "steps", "stress", "statement", "files", "runner"},
    "spec": {"pgrace", "server", "core", "spec"},
    "gtest": {"pgrace", "server"},
    "cli": {"pgrace", "server", "spec", "files"},
}
# The dispatcher's header: only what stands above the modes may include it.
DISPATCHER = "pgrace/runner.hpp"
DISPATCHER_USERS = {"src/runner", "cli", "gtest", "include/pgrace"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)

def main(root):
    harness = pathlib.Path(root) / "harness"
    problems = []
    for folder in sorted(p for p in harness.rglob("*") if p.is_dir()):
        rel = folder.relative_to(harness).as_posix()
        files = [f for f in folder.iterdir() if f.is_file()]
        if len(files) > MAX_FILES:
            problems.append(f"harness/{rel}: {len(files)} files, more than {MAX_FILES}: split it by concept")
        if files and rel not in ALLOWED:
            problems.append(f"harness/{rel}: not in the layout map (tests/layout_test.py, README \"Layout\")")
    for rel, allowed in ALLOWED.items():
        for source in sorted((harness / rel).glob("*.[ch]pp")):
            for target in INCLUDE.findall(source.read_text()):
                top = target.split("/")[0] if "/" in target else None
                if top is None and rel == "cli":
                    continue  # the command line's own headers sit beside its sources
                if target == DISPATCHER and rel not in DISPATCHER_USERS:
                    problems.append(f"{source.relative_to(root)}: includes the dispatcher's {DISPATCHER}: "
                                    "include pgrace/settings.hpp for the settings")
                if top not in allowed and top != "util":  # util/ serves every folder
                    problems.append(f"{source.relative_to(root)}: includes \"{target}\", "
                                    f"but harness/{rel} may include only {sorted(allowed)}")
    for p in problems:
        print(p)
    print(f"layout: {len(problems)} problem(s)")
    return 1 if problems else 0

if __name__ == "__main__":
    sys.exit(main(pathlib.Path(sys.argv[1]).resolve()))
