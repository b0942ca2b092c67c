#!/bin/sh
# The whole test suite: installs what is missing, builds, then
#   1. runs pgrace's tests (ctest, in parallel: unit tests, integration tests
#      on real ephemeral PostgreSQL servers, the robustness matrix, the
#      report schema);
#   2. builds and tests the example user project against this checkout, by
#      FetchContent, by an installed pgrace (find_package) and by
#      add_subdirectory (scripts/test-example.sh);
#   2b. installs the Node example's npm packages and runs its npm test
#      (scripts/test-node-example.sh);
#   3. builds libpqxx 7.8.1 from ../shared/third_party and builds and tests
#      pgrace, then the example project, against it (scripts/test-pqxx7.sh).
# Every stage prints its time at its end, and the total at the end.
# Everything compiles warning-free or fails (-Werror). The consumer projects
# of 2 and 3 compile pgrace with the main build's flags, so ccache (which
# setup.sh installs) serves their copies of pgrace from the main build's.
# Arguments go to ctest and run step 1 only (e.g. ./scripts/test.sh -R Interleave).
# With PGRACE_TSAN=1 it also builds with ThreadSanitizer into build-tsan/ and
# runs pgrace's tests there.
# PGRACE_TEST_JOBS: how many tests ctest runs at once (default: twice the
# cores, as the tests mostly wait for their servers; ThreadSanitizer: the cores).
set -eu
cd "$(dirname "$0")/.."
total_start=$(date +%s)
./scripts/setup.sh
. ./scripts/common.sh
stage "build (libpqxx 6)" env PGRACE_CXX_FLAGS="$strict_flags" PGRACE_TEST_BUILD=1 ./scripts/build.sh
stage "ctest (libpqxx 6)" run_ctest build 600 "$@"
if [ $# -eq 0 ]; then
  stage "example (libpqxx 6)" ./scripts/test-example.sh
  stage "example (Node, npm test)" ./scripts/test-node-example.sh
  ./scripts/test-pqxx7.sh
fi
if [ "${PGRACE_TSAN:-0}" = 1 ]; then
  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DPGRACE_SANITIZE=thread $launcher >/dev/null
  stage "build (ThreadSanitizer)" cmake --build build-tsan -j "$jobs"
  # One test per core: ThreadSanitizer's slowdown leaves no room to wait in.
  (
    TSAN_OPTIONS="halt_on_error=1 suppressions=$(pwd)/tests/tsan.supp"
    export TSAN_OPTIONS
    ctest_jobs=$jobs
    stage "ctest (ThreadSanitizer)" run_ctest build-tsan 900 "$@"
  )
fi
echo "test.sh: all stages passed in $(($(date +%s) - total_start)) s"
