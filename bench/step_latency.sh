#!/usr/bin/env bash
# Where a chain step's critical path goes: from the moment a step's shell exits to the moment
# baton starts the next one, split at the system calls that mark each phase, as the kernel's
# tracepoints see them (`perf trace`, which costs far less than strace). Runs the 200-step
# file-passing chain of bench/dag and prints the median of each segment.
#   bench/step_latency.sh            env: BATON (default build/release/baton), BATON_BASE
#                                         (another build, printed below it), RUNS (default 3)
# Needs perf (Debian linux-perf) and permission to trace (root, or kernel.perf_event_paranoid
# at -1).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/need.sh"
need perf
root=$(cd "$here/.." && pwd)
baton=${BATON:-$root/build/release/baton}
runs=${RUNS:-3}
work=$(mktemp -d "${TMPDIR:-/tmp}/baton-latency.XXXXXX")
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 "$here/dag/gen_dags.py" chain200 files "$work" >/dev/null
cd "$work"
# exit_group: the step ends. wait4: baton reaps it. rename/unlink: its output is in the store.
# openat of the log and pipe2: the next step is being launched. clone3: it starts.
events=clone3,exit_group,wait4,rename,unlink,pipe2,openat
measure() {  # measure NAME BINARY
  local name=$1 bin=$2
  BATON_DIR=.baton-$name "$bin" init >/dev/null
  BATON_DIR=.baton-$name "$bin" run pipeline.yaml -q --no-cache >/dev/null  # warm up
  for i in $(seq "$runs"); do
    BATON_DIR=.baton-$name perf trace -o "trace-$name-$i.txt" -e "$events" -- \
      "$bin" run pipeline.yaml -j 2 -q --no-cache >/dev/null 2>&1
  done
  echo "== $name ($bin)"
  /usr/bin/python3 "$here/step_latency.py" trace-"$name"-*.txt
}
measure baton "$baton"
[ -z "${BATON_BASE:-}" ] || measure base "$BATON_BASE"
