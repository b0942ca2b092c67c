#!/bin/sh
# The whole test suite: installs what is missing, builds, runs every test
# (unit tests, and integration tests on real ephemeral PostgreSQL servers).
set -eu
cd "$(dirname "$0")/.."
./scripts/build.sh
cd build
exec ctest --output-on-failure --timeout 600 "$@"
