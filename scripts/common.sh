# shellcheck shell=sh disable=SC2034  # the variables are for the scripts that source this
# Sourced by the build and test scripts (not run by itself): what they share.
#   jobs          parallel build jobs (the machine's cores)
#   launcher      -DCMAKE_CXX_COMPILER_LAUNCHER=ccache when ccache is installed
#   strict_flags  the warning flags every test build compiles with: warnings fail
#   test_build    the build type of every test build: optimised (-O1, asserts
#                 kept) without debug information, which halves the compile
#                 time of -O2 -g (RelWithDebInfo, the default build's)
#   ctest_jobs    tests ctest runs at once: $PGRACE_TEST_JOBS, else twice the
#                 cores (the tests mostly wait for their servers)
#   stage NAME COMMAND...  runs COMMAND, then prints "<script>: stage NAME: N s"
#   run_ctest BUILD TIMEOUT [ctest args...]  the tests of BUILD, in parallel
#
# One compilation of pgrace per libpqxx: the consumer projects of
# test-example.sh (FetchContent, installed, add_subdirectory) compile the
# same sources with the same flags as the main build, each in a build tree of
# its own. ccache serves those compilations from the main build's when the
# paths stay absolute (no base_dir) and the compiler's working directory is
# left out of the key (hash_dir; it only names the build tree in debug info).

jobs=$(nproc)
launcher=""
if command -v ccache >/dev/null 2>&1; then
  launcher="-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"
  # pch_defines,time_macros: ccache caches the test programs' precompiled
  # headers and the files that use them.
  CCACHE_BASEDIR="" CCACHE_NOHASHDIR=1 CCACHE_SLOPPINESS=pch_defines,time_macros
  export CCACHE_BASEDIR CCACHE_NOHASHDIR CCACHE_SLOPPINESS
fi
strict_flags="-Wall -Wextra -Werror"
test_build="-DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE=-O1"
ctest_jobs=${PGRACE_TEST_JOBS:-$((2 * jobs))}

stage() {
  stage_name=$1
  shift
  stage_start=$(date +%s)
  "$@"
  echo "${0##*/}: stage $stage_name: $(($(date +%s) - stage_start)) s"
}

run_ctest() {
  ctest_dir=$1 ctest_timeout=$2
  shift 2
  (cd "$ctest_dir" && ctest --output-on-failure --timeout "$ctest_timeout" -j "$ctest_jobs" "$@")
}
