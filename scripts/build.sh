#!/bin/sh
# Installs missing packages, then configures and builds pgrace into build/.
# Arguments name the targets to build (default: everything, tests and
# benchmarks included); `./scripts/build.sh pgrace` builds only the pgrace
# program. PGRACE_CXX_FLAGS, when set, becomes CMAKE_CXX_FLAGS (test.sh sets
# its warnings-fail flags so).
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
. ./scripts/common.sh
flags=""
if [ -n "${PGRACE_CXX_FLAGS+set}" ]; then flags="-DCMAKE_CXX_FLAGS=$PGRACE_CXX_FLAGS"; fi
# shellcheck disable=SC2086
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo $launcher ${flags:+"$flags"} >/dev/null
targets=""
for target in "$@"; do targets="$targets --target $target"; done
# shellcheck disable=SC2086
cmake --build build -j "$jobs" $targets
