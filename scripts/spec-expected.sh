#!/bin/sh
# Writes the expected output of pgrace's own spec files by running
# PostgreSQL's isolationtester on them, in a database set up as `pgrace spec`
# sets up its databases (see harness/spec/database.hpp).
#   scripts/spec-expected.sh DSN FILE.spec...    (writes FILE.out beside each)
# DSN: a server to use, in key=value form, e.g. what `pgrace server` prints. The tester is looked for
# under /usr/lib/postgresql/*/lib/pgxs/src/test/isolation, or $ISOLATIONTESTER.
set -eu
dsn=$1; shift
tester=${ISOLATIONTESTER:-$(ls /usr/lib/postgresql/*/lib/pgxs/src/test/isolation/isolationtester 2>/dev/null | tail -n 1)}
[ -x "$tester" ] || { echo "spec-expected.sh: isolationtester not found (set ISOLATIONTESTER)" >&2; exit 2; }
db=pgrace_spec_expected_$$
psql -q -X -v ON_ERROR_STOP=1 "$dsn" <<SQL
CREATE DATABASE $db TEMPLATE template0;
ALTER DATABASE $db SET lc_messages TO 'C';
ALTER DATABASE $db SET lc_monetary TO 'C';
ALTER DATABASE $db SET lc_numeric TO 'C';
ALTER DATABASE $db SET lc_time TO 'C';
ALTER DATABASE $db SET bytea_output TO 'hex';
ALTER DATABASE $db SET timezone_abbreviations TO 'Default';
ALTER DATABASE $db SET timezone TO 'PST8PDT';
ALTER DATABASE $db SET datestyle TO 'Postgres, MDY';
SQL
trap 'psql -q -X "$dsn" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
for spec in "$@"; do
  # The tester's stdout and stderr together, as pg_isolation_regress records them.
  env -u PGTZ -u PGDATESTYLE "$tester" "$dsn dbname=$db" <"$spec" >"${spec%.spec}.out" 2>&1 || true
  echo "${spec%.spec}.out"
done
