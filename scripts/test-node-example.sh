#!/bin/sh
# The Node example (examples/node) as its own team would test it: installs
# its npm packages from package-lock.json (npm ci; the registry, or npm's
# cache when it has them) and runs `npm test` (node:test), which runs
# pgrace on its scenario files. PGRACE: the pgrace program (default
# build/pgrace). Needs node and npm (scripts/setup.sh installs them if
# missing).
set -eu
cd "$(dirname "$0")/.."
PGRACE="${PGRACE:-$PWD/build/pgrace}"
export PGRACE
cd examples/node
npm ci --no-audit --no-fund --loglevel=error
npm test
