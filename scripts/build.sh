#!/bin/sh
# Installs missing packages, then configures and builds pgrace into build/.
# Arguments name the targets to build (default: everything, tests included);
# `./scripts/build.sh pgrace` builds only the pgrace program.
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
launcher=""
if command -v ccache >/dev/null 2>&1; then launcher="-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"; fi
# shellcheck disable=SC2086
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo $launcher >/dev/null
targets=""
for target in "$@"; do targets="$targets --target $target"; done
# shellcheck disable=SC2086
cmake --build build -j "$(nproc)" $targets
