#!/bin/sh
# The whole test suite: installs what is missing, builds, runs every test
# (unit tests, and integration tests on real ephemeral PostgreSQL servers).
# With PGRACE_TSAN=1 it also builds with ThreadSanitizer into build-tsan/ and
# runs the suite there.
set -eu
cd "$(dirname "$0")/.."
./scripts/build.sh
(cd build && ctest --output-on-failure --timeout 600 "$@")
if [ "${PGRACE_TSAN:-0}" = 1 ]; then
  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DPGRACE_SANITIZE=thread >/dev/null
  cmake --build build-tsan -j "$(nproc)"
  (cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure --timeout 900 "$@")
fi
