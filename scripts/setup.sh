#!/bin/sh
# Installs the Debian packages pgrace needs (and ccache, which lets the test
# builds share their compilations of pgrace; chromium, in which a test renders
# the --html page), if any are missing. Idempotent:
# when everything is there it only says so.
set -eu

packages="g++ cmake make pkg-config libpq-dev libpqxx-dev libboost-thread-dev libcli11-dev
nlohmann-json3-dev libtomlplusplus-dev python3-psycopg libgtest-dev libbenchmark-dev postgresql python3-jsonschema jq ccache chromium"

missing=""
for p in $packages; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done

# The Node example (examples/node) needs node and npm; a machine may have
# them from elsewhere (e.g. NodeSource's nodejs, which brings npm).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing="$missing nodejs npm"
fi

if [ -z "$missing" ]; then
  echo "setup: all packages present"
  exit 0
fi

echo "setup: installing missing Debian packages:$missing"
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing
echo "setup: done"
