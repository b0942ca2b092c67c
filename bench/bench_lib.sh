# shellcheck shell=sh
# Shell functions shared by the bench scripts: finding PostgreSQL's client
# tools, CPU accounting in clock ticks, waiting for a quiet machine, stopping
# a child process, medians (the pgbench comparisons); finding the pgrace
# program and a temp directory removed on every exit (the pgrace ones).
# Sourced, not run; POSIX sh; defines functions only.
#
# CPU accounting: client_ticks is this shell's reaped children (a client
# that runs as our child and is waited for); server_ticks is a postmaster's
# reaped children (backends, once they exit) plus its live children;
# machine_ticks is the busy ticks of all CPUs, so that machine - client -
# server (- anything else counted) is what other jobs took during a run.

# find_tool MAJOR NAME: prints the path of PostgreSQL's NAME (pgbench, psql)
# of major version MAJOR (may be empty), else the one on PATH, else the one of
# the newest installed major; prints nothing if there is none.
find_tool() {
  if [ -n "$1" ] && [ -x "/usr/lib/postgresql/$1/bin/$2" ]; then
    echo "/usr/lib/postgresql/$1/bin/$2"
  elif command -v "$2" >/dev/null 2>&1; then
    command -v "$2"
  else
    # shellcheck disable=SC2012  # paths without white space, newest major last
    ls -d /usr/lib/postgresql/*/bin/"$2" 2>/dev/null | sort -V | tail -n 1
  fi
}

# client_ticks: prints the user + system ticks of this shell's reaped children.
client_ticks() { awk '{ sub(/^.*\) /, ""); print $14 + $15 }' "/proc/$$/stat"; }

# server_ticks POSTMASTER: prints the ticks of the postmaster's reaped children
# plus those of its live children; 0 if POSTMASTER is empty or gone.
server_ticks() {
  if [ -z "$1" ] || [ ! -r "/proc/$1/stat" ]; then echo 0; return; fi
  # cat, not awk on the files: processes come and go while we read.
  cat /proc/[0-9]*/stat 2>/dev/null | awk -v pm="$1" '{
      pid = $1; sub(/^.*\) /, "")   # drop "pid (comm) ": $1 is now the state (field 3)
      if (pid == pm) total += $14 + $15   # cutime + cstime: backends that exited
      else if ($2 == pm) total += $12 + $13   # utime + stime of a live child
    } END { print total + 0 }'
}

# machine_ticks: prints the busy ticks of all CPUs since boot.
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat; }

# busy_percent: prints the busy share of all CPUs over the next second, in percent.
busy_percent() {
  a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6; exit }' /proc/stat)
  sleep 1
  b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6; exit }' /proc/stat)
  echo "$a $b" | awk '{ d = ($3 - $1) + ($4 - $2); printf "%.0f\n", (d > 0 ? 100 * ($3 - $1) / d : 0) }'
}

# wait_for_quiet SECONDS: waits up to SECONDS for a second in which the machine
# is < 10 % busy; returns at once if SECONDS is 0. Fails (status 1) if the
# machine stayed busy all that time.
wait_for_quiet() {
  [ "$1" -gt 0 ] || return 0
  waited=0
  while [ "$(busy_percent)" -ge 10 ]; do
    waited=$((waited + 1))
    [ $waited -lt "$1" ] || return 1
  done
}

# stop_child PID: gives PID, a child of this shell that has been told to stop,
# 20 s to exit, then sends it SIGTERM; reaps it either way.
stop_child() {
  i=0
  while kill -0 "$1" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# median: prints the median of the numbers on stdin, one a line.
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# pgrace_program ROOT [PATH]: prints the absolute path of the pgrace program
# PATH (default ROOT/build/pgrace); exits 2 saying so if it is not there.
pgrace_program() {
  program=${2:-$1/build/pgrace}
  case $program in /*) ;; *) program=$PWD/$program ;; esac
  [ -x "$program" ] || { echo "no pgrace binary at $program (build it, or pass its path)" >&2; exit 2; }
  echo "$program"
}

# with_temp_dir: sets tmp to a new private temp directory, removed on exit,
# Ctrl-C and TERM, after interrupting $child (a pgrace run in the
# background, which stops its own server on SIGINT) if it still runs.
with_temp_dir() {
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-pgrace.XXXXXX")
  child=
  trap 'interrupt_child; rm -rf "$tmp"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# interrupt_child: interrupts $child if it still runs, and waits for it.
interrupt_child() {
  if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
    kill -INT "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
}
