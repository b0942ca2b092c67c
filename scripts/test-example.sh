#!/bin/sh
# pgrace as a user's project sees it, each way from an empty build directory:
#   1. fetch    examples/ built with FetchContent against this checkout
#               (build-example-fetch/)
#   2. install  pgrace installed to a prefix (no tests, no benchmarks), then
#               examples/ built with find_package (build-example-install/)
#   3. subdir   tests/consumer/: add_subdirectory, its scenarios registered
#               both ways, a static library refused (build-example-consumer/)
# In 1 and 2: `bank_pgrace list`, `bank_pgrace run 'bank.*' --repeat 5` (exit
# 0: the naive transfer violates, the fixed one holds), `bank_pgrace explore
# --workers 2 -o balance=10` of both (the naive one violates with a
# reproducer, the fixed one holds in every order up to 3 switches) and the
# example's ctest. Builds are warning-free or fail (-Wall -Wextra -Werror).
# Prints the time of each step, from configure to the first run. Uses ccache
# when it is installed: pgrace's sources compile with the main build's flags
# (scripts/common.sh), so after ./scripts/build.sh (or test-pqxx7.sh's build,
# for its libpqxx) their compilations are cache hits; each way still
# configures and builds pgrace from this checkout in its own build tree.
# Safe to run twice: every step starts from an empty directory.
# Arguments go to every cmake configure, e.g. for a libpqxx 7 built with C++20:
#   PKG_CONFIG_PATH=<prefix>/lib/pkgconfig scripts/test-example.sh -DCMAKE_CXX_STANDARD=20
set -eu
extra_args="$*"  # words without spaces
cd "$(dirname "$0")/.."
root=$(pwd)
./scripts/setup.sh
. ./scripts/common.sh
export PGRACE_REQUIRE_SERVER=1  # the gtest programs fail, rather than skip, without PostgreSQL

now() { date +%s.%N; }
since() { echo "$(now) $1" | awk '{ printf "%.1f s", $1 - $2 }'; }
fail() {
  echo "test-example: $*" >&2
  exit 1
}

# configure SOURCE BUILD [cmake args...]: an empty BUILD directory, configured.
configure() {
  src=$1 dir=$2
  shift 2
  rm -rf "$dir"
  mkdir -p "$dir"
  # shellcheck disable=SC2086
  cmake -S "$src" -B "$dir" $test_build "-DCMAKE_CXX_FLAGS=$strict_flags" \
    $launcher $extra_args "$@" >"$dir/configure.log" 2>&1 || { cat "$dir/configure.log"; fail "configuring $src failed"; }
}

build() { cmake --build "$1" -j "$jobs" >"$1/build.log" 2>&1 || { cat "$1/build.log"; fail "building $1 failed"; }; }

# first_run BUILD: the example's scenario program lists both scenarios and
# runs them to exit 0, with reports.
first_run() {
  "$1/bank_pgrace" list >"$1/list.txt" || fail "$1/bank_pgrace list failed"
  for name in bank.transfer.naive bank.transfer.locked; do
    grep -q "^$name " "$1/list.txt" || fail "$1/bank_pgrace list does not show $name"
  done
  "$1/bank_pgrace" run 'bank.*' --repeat 5 --report "$1/reports/bank.json" --junit "$1/reports/bank.xml" \
    || fail "$1/bank_pgrace run 'bank.*' --repeat 5 did not match the expectations (exit $?)"
}

# explore_transfers BUILD: two payments of 10 from a customer who has 10,
# statement by statement. The naive transfer is shown violating, with a
# reproducer; the fixed one holds in every execution there is up to 3
# switches (explored = total).
explore_transfers() {
  "$1/bank_pgrace" explore bank.transfer.naive --workers 2 -o balance=10 --max-switches 2 >"$1/explore-naive.txt" \
    || { cat "$1/explore-naive.txt"; fail "$1/bank_pgrace explore bank.transfer.naive did not violate"; }
  grep -q '^minimal reproducer (violates "no negative balance"' "$1/explore-naive.txt" \
    || { cat "$1/explore-naive.txt"; fail "$1/bank_pgrace explore bank.transfer.naive printed no reproducer"; }
  "$1/bank_pgrace" explore bank.transfer.locked --workers 2 -o balance=10 --max-switches 3 >"$1/explore-locked.txt" \
    || { cat "$1/explore-locked.txt"; fail "$1/bank_pgrace explore bank.transfer.locked did not hold"; }
  grep -Eq '^ok +bank\.transfer\.locked .*: ([0-9]+) schedule\(s\) explored of \1, 0 violated \(expected hold\)$' "$1/explore-locked.txt" \
    || { cat "$1/explore-locked.txt"; fail "$1/bank_pgrace explore bank.transfer.locked did not explore every execution"; }
}

example_ctest() { run_ctest "$1" 300 || fail "ctest in $1 failed"; }

echo "== 1. examples/ with FetchContent (build-example-fetch/)"
start=$(now)
configure examples build-example-fetch "-DPGRACE_SOURCE_DIR=$root"
build build-example-fetch
first_run build-example-fetch
fetch_time=$(since "$start")
# pgrace is not the top-level project here: its tests and benchmarks stay
# out, and its bundled program (which the example does not link) is not built.
for dir in tests bench; do
  [ ! -e "build-example-fetch/_deps/pgrace-build/$dir" ] || fail "pgrace's $dir were configured inside the example"
done
[ ! -e build-example-fetch/_deps/pgrace-build/pgrace ] || fail "pgrace's bundled program was built inside the example"
if (cd build-example-fetch && ctest -N) | grep 'Test *#' | grep -v ' Transfer\.'; then
  fail "the example's ctest lists tests that are not its own"
fi
explore_transfers build-example-fetch
example_ctest build-example-fetch

echo "== 2. pgrace installed, examples/ with find_package (build-example-install/)"
rm -rf build-example-install
start=$(now)
configure . build-example-install/pgrace -DPGRACE_BUILD_TESTS=OFF -DPGRACE_BUILD_BENCH=OFF \
  "-DCMAKE_INSTALL_PREFIX=$root/build-example-install/prefix"
build build-example-install/pgrace
cmake --install build-example-install/pgrace >build-example-install/pgrace/install.log 2>&1 \
  || { cat build-example-install/pgrace/install.log; fail "cmake --install failed"; }
install_time=$(since "$start")
start=$(now)
configure examples build-example-install/bank "-DCMAKE_PREFIX_PATH=$root/build-example-install/prefix"
build build-example-install/bank
first_run build-example-install/bank
package_time=$(since "$start")
explore_transfers build-example-install/bank
example_ctest build-example-install/bank

echo "== 3. add_subdirectory consumer (build-example-consumer/)"
start=$(now)
configure tests/consumer build-example-consumer
build build-example-consumer
example_ctest build-example-consumer
consumer_time=$(since "$start")

echo "test-example: all passed. From an empty build directory to the first run:"
echo "  FetchContent:       $fetch_time (configure, build pgrace and the example, list, run)"
echo "  installed package:  $package_time (after installing pgrace: $install_time)"
echo "  add_subdirectory:   $consumer_time (to the end of its ctest)"
