#!/bin/sh
# The main job: installs what is missing, builds the pgrace program (only
# that), then runs the bundled transfer scenarios on an ephemeral PostgreSQL
# and writes reports/transfer.json and reports/transfer.xml. Exit code: pgrace's.
set -eu
cd "$(dirname "$0")/.."
./scripts/build.sh pgrace
exec ./build/pgrace run 'transfer.*' --report reports/transfer.json --junit reports/transfer.xml "$@"
