#!/usr/bin/env bash
# `baton server` as a metadata store, against the PostgreSQL database it serves:
#   1. load: CLIENTS clients at once (default 100), each recording a run of STEPS steps through the
#      server's store API (bench/server_load.cc: StartStepRun + FinishStepRun per step, each a step
#      update, on loopback); step updates per second and the median and p99 latency of one. The
#      same clients straight on PostgreSQL are shown beside it (at most PG_CLIENTS of them: the
#      database's connection limit).
#   2. a run: the 1,000-step layered DAG (bench/dag/gen_dags.py layered1000, no-op steps, every
#      step executed) run by baton on PostgreSQL directly and through the server; medians of RUNS
#      runs each and their ratio (the goal: through the server at most 1.5x).
#
# usage: bench/server.sh
# env:   BUILD (default <repo>/build/release; built here when missing), RUNS (default 5), JOBS
#        (default 2), CLIENTS (default 100), STEPS (default 50), PG_CLIENTS (default 50), PG_URI
#        (default: scripts/setup-postgres.sh starts the test cluster and its URL is used),
#        SERVER_ARGS (more flags for `baton server`), LOAD_ONLY (set: the load part alone).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
py=/usr/bin/python3
runs=${RUNS:-5}
jobs=${JOBS:-2}
clients=${CLIENTS:-100}
steps=${STEPS:-50}
pg_clients=${PG_CLIENTS:-50}
build=${BUILD:-$root/build/release}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBATON_BUILD_TESTS=OFF \
    -DBATON_BUILD_BENCH=OFF >/dev/null
fi
ninja -C "$build" baton baton-server baton_store baton_platform baton_base >/dev/null
baton=$build/baton
pg=${PG_URI:-$("$root/scripts/setup-postgres.sh" | tail -1)}
case $pg in postgresql://* | postgres://*) ;; *) echo "not a PostgreSQL URI: $pg" >&2; exit 2 ;; esac
sep='?'
case $pg in *\?*) sep='&' ;; esac

work=$(mktemp -d "${TMPDIR:-/tmp}/baton-serverbench.XXXXXX")
schemas=()
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  if command -v psql >/dev/null; then
    for s in "${schemas[@]}"; do psql "$pg" -qc "DROP SCHEMA IF EXISTS $s CASCADE" >/dev/null 2>&1 || true; done
  fi
  rm -rf "$work"
}
trap cleanup EXIT

driver=$work/server_load
g++ -std=c++20 -O2 -I "$root/include" -I "$build/layers/baton_store" "$root/bench/server_load.cc" -o "$driver" \
  "$build/libbaton_store.a" "$build/libbaton_platform.a" "$build/libbaton_base.a" \
  -lcurl -lcrypto -lsqlite3 -lpq -lpthread

# A server on a schema of its own, and an admin token for it.
start_server() {  # start_server SCHEMA
  local backing="$pg${sep}schema=$1"
  schemas+=("$1")
  "$baton" server user add bench --role admin --metadata "$backing" >"$work/token"
  "$baton" server --port 0 --quiet ${SERVER_ARGS:-} --metadata "$backing" >"$work/server.out" 2>"$work/server.err" &
  server_pid=$!
  for _ in $(seq 200); do
    grep -q "/api/v1" "$work/server.out" 2>/dev/null && break
    sleep 0.05
  done
  server=$(sed -n 's|.* on \(http://[^/]*\)/api/v1.*|\1|p' "$work/server.out")
  [ -n "$server" ] || { cat "$work/server.err" >&2; exit 1; }
}
stop_server() { kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=; }

seconds() { "$py" -c 'import subprocess,sys,time; t=time.monotonic(); r=subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); sys.exit(r.returncode) if r.returncode else print(f"{time.monotonic()-t:.4f}")' "$@"; }
median() { "$py" -c 'import statistics,sys; print(f"{statistics.median(map(float, sys.argv[1:])):.4f}")' "$@"; }

echo "== load: $clients clients x $steps steps, 2 updates a step (PostgreSQL: ${pg%%\?*})"
start_server bench_load_$$
echo "through the server: $("$driver" "$server?token_file=$work/token" "$clients" "$steps")"
stop_server
schemas+=(bench_loaddb_$$)
echo "PostgreSQL directly, $pg_clients clients: $("$driver" "$pg${sep}schema=bench_loaddb_$$" "$pg_clients" "$steps")"

[ -n "${LOAD_ONLY:-}" ] && exit 0
echo "== layered1000, no-op steps, -j $jobs, every step executed, $runs runs each"
dir=$work/dag
"$py" "$root/bench/dag/gen_dags.py" layered1000 noop "$dir" >/dev/null
start_server bench_run_$$
schemas+=(bench_rundb_$$)
declare -A uri=([postgresql]="$pg${sep}schema=bench_rundb_$$" [server]="$server?token_file=$work/token")
declare -A med=()
for store in postgresql server; do
  ws=$dir/$store
  mkdir -p "$ws"
  cp "$dir/pipeline.yaml" "$ws/"
  export BATON_METADATA_URI=${uri[$store]}
  (cd "$ws" && "$baton" init >/dev/null)
  cmd=("$baton" run pipeline.yaml -j "$jobs" --no-cache -q)
  (cd "$ws" && "${cmd[@]}" >/dev/null) || { echo "FAIL: the $store run failed" >&2; exit 1; }  # warm-up
  times=()
  for _ in $(seq "$runs"); do
    times+=("$(cd "$ws" && seconds "${cmd[@]}")")
  done
  med[$store]=$(median "${times[@]}")
  echo "layered1000 on $store: ${times[*]} s (median ${med[$store]} s)"
done
unset BATON_METADATA_URI
"$py" -c 'import sys; p, s = float(sys.argv[1]), float(sys.argv[2]); print(f"through the server / PostgreSQL directly: {s/p:.2f}x (goal: at most 1.5x)")' \
  "${med[postgresql]}" "${med[server]}"
