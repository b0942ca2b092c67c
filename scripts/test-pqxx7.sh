#!/bin/sh
# Builds and tests pgrace against libpqxx 7.8.1 (Ubuntu 24.04's), next to the
# Debian 12 libpqxx 6.4.5 that build.sh uses. Everything lands in build-pqxx7/:
#   libpqxx-src/     the unpacked tarball     libpqxx-build/  its CMake build
#   prefix/          libpqxx installed there  pgrace/         pgrace built against it
# libpqxx is built once, as a static library (pgrace's binaries then carry it:
# no rpath or LD_LIBRARY_PATH, and the loader cannot pick up the system's 6.4),
# with C++20 like pgrace (mixing standards fails to link). A second run only
# rebuilds what changed in pgrace and reruns the tests; then the example user
# project is built and tested against the same libpqxx (scripts/test-example.sh).
# Arguments go to ctest (and skip the example)
# (e.g. -R Outcome). The tarball is $PGRACE_PQXX7_TARBALL, else
# shared/third_party/libpqxx-7.8.1.tar.gz beside the repository (for a git
# worktree: beside the main checkout).
set -eu
tarball=${PGRACE_PQXX7_TARBALL:-}
case $tarball in "" | /*) ;; *) tarball=$(pwd)/$tarball ;; esac
cd "$(dirname "$0")/.."
repo=$(pwd)
if [ -z "$tarball" ]; then
  main=$(dirname "$(git rev-parse --path-format=absolute --git-common-dir 2>/dev/null || echo "$repo/.git")")
  for dir in "$repo" "$main"; do
    tarball=$(dirname "$dir")/shared/third_party/libpqxx-7.8.1.tar.gz
    [ -r "$tarball" ] && break
  done
fi
top=$repo/build-pqxx7
prefix=$top/prefix
./scripts/setup.sh
. ./scripts/common.sh

if [ ! -r "$tarball" ]; then
  echo "test-pqxx7: $tarball not found; set PGRACE_PQXX7_TARBALL to the libpqxx-7.8.1.tar.gz path" >&2
  exit 2
fi

# The stamp holds the tarball's checksum, written only after a complete install:
# an interrupted run or another tarball starts libpqxx over.
sum=$(sha256sum "$tarball" | cut -d' ' -f1)
build_libpqxx() {
  echo "test-pqxx7: building libpqxx from $tarball"
  rm -rf "$top/libpqxx-src" "$top/libpqxx-build" "$prefix" "$top/pgrace"  # pgrace: its cached pkg-config results
  mkdir -p "$top/libpqxx-src"
  tar -xzf "$tarball" -C "$top/libpqxx-src" --strip-components=1
  # shellcheck disable=SC2086
  cmake -S "$top/libpqxx-src" -B "$top/libpqxx-build" $launcher -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_STANDARD=20 -DSKIP_BUILD_TEST=on -DBUILD_DOC=off -DBUILD_SHARED_LIBS=off \
    -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib >/dev/null
  cmake --build "$top/libpqxx-build" -j "$jobs"
  cmake --install "$top/libpqxx-build" >/dev/null
  echo "$sum" >"$prefix/.stamp"
}
if [ "$(cat "$prefix/.stamp" 2>/dev/null || true)" != "$sum" ]; then
  stage "libpqxx 7.8.1" build_libpqxx
fi

# PKG_CONFIG_PATH finds the prefix now; CMAKE_PREFIX_PATH (cached) keeps
# finding it when a later build reconfigures by itself.
PKG_CONFIG_PATH=$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export PKG_CONFIG_PATH
# shellcheck disable=SC2086
cmake -S "$repo" -B "$top/pgrace" $launcher $test_build "-DCMAKE_CXX_FLAGS=$strict_flags" \
  -DCMAKE_CXX_STANDARD=20 -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
version=$(cat "$top/libpqxx-src/VERSION")
found=$(sed -n 's/^PGRACE_PQXX_libpqxx_VERSION:INTERNAL=//p' "$top/pgrace/CMakeCache.txt")
if [ "$found" != "$version" ]; then
  echo "test-pqxx7: pgrace was configured with libpqxx $found, not the one in $prefix" >&2
  exit 3
fi
stage "build (libpqxx 7)" cmake --build "$top/pgrace" -j "$jobs"

# The static library leaves its version-check symbol (check_pqxx_version_7_8)
# in the binary, and no shared libpqxx in the loader's list.
check=check_pqxx_version_$(echo "$version" | cut -d. -f1,2 | tr . _)
if ! nm "$top/pgrace/pgrace" | grep -q "$check" || ldd "$top/pgrace/pgrace" | grep -q libpqxx; then
  echo "test-pqxx7: $top/pgrace/pgrace does not contain libpqxx $version" >&2
  exit 3
fi

stage "ctest (libpqxx 7)" run_ctest "$top/pgrace" 600 "$@"

# The example user project against the same libpqxx, the three ways
# (FetchContent, installed package, add_subdirectory). Skipped when arguments
# narrow the run to some tests.
if [ $# -eq 0 ]; then
  stage "example (libpqxx 7)" ./scripts/test-example.sh -DCMAKE_CXX_STANDARD=20
fi
