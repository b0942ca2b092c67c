#!/bin/sh
# The whole test suite: installs what is missing, builds, then
#   1. runs pgrace's tests (ctest: unit tests, integration tests on real
#      ephemeral PostgreSQL servers, the fault matrix, the report schema);
#   2. builds and tests the example user project against this checkout, by
#      FetchContent, by an installed pgrace (find_package) and by
#      add_subdirectory (scripts/test-example.sh);
#   3. builds libpqxx 7.8.1 from ../shared/third_party and builds and tests
#      pgrace, then the example project, against it (scripts/test-pqxx7.sh).
# Arguments go to ctest and run step 1 only (e.g. ./scripts/test.sh -R Interleave).
# With PGRACE_TSAN=1 it also builds with ThreadSanitizer into build-tsan/ and
# runs pgrace's tests there.
set -eu
cd "$(dirname "$0")/.."
./scripts/build.sh
(cd build && ctest --output-on-failure --timeout 600 "$@")
if [ $# -eq 0 ]; then
  ./scripts/test-example.sh
  ./scripts/test-pqxx7.sh
fi
if [ "${PGRACE_TSAN:-0}" = 1 ]; then
  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DPGRACE_SANITIZE=thread >/dev/null
  cmake --build build-tsan -j "$(nproc)"
  (cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure --timeout 900 "$@")
fi
