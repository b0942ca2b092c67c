#!/bin/sh
# Installs missing packages, then configures and builds pgrace into build/.
# Arguments name the targets to build (default: everything, tests and
# benchmarks included); `./scripts/build.sh pgrace` builds only the pgrace
# program. PGRACE_CXX_FLAGS, when set, becomes CMAKE_CXX_FLAGS (test.sh sets
# its warnings-fail flags so). PGRACE_TEST_BUILD=1 builds the test build type
# (common.sh's test_build) instead of RelWithDebInfo.
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
. ./scripts/common.sh
flags=""
if [ -n "${PGRACE_CXX_FLAGS+set}" ]; then flags="-DCMAKE_CXX_FLAGS=$PGRACE_CXX_FLAGS"; fi
build_type=-DCMAKE_BUILD_TYPE=RelWithDebInfo
if [ "${PGRACE_TEST_BUILD:-0}" = 1 ]; then build_type=$test_build; fi
# shellcheck disable=SC2086
cmake -S . -B build $build_type $launcher ${flags:+"$flags"} >/dev/null
targets=""
for target in "$@"; do targets="$targets --target $target"; done
# shellcheck disable=SC2086
cmake --build build -j "$jobs" $targets
