#!/usr/bin/env bash
# Per-step overhead of the PostgreSQL metadata store against SQLite: the same 200-step chain
# (bench/dag/gen_dags.py) run by baton on a workspace's SQLite file and on a PostgreSQL schema,
# every step executed (--no-cache), several times each; prints the medians and the difference per
# step (the goal: under 2 ms per step).
#
# usage: bench/pg_chain.sh
# env:   BATON (default <repo>/build/release/baton), RUNS (default 5), KINDS (default "noop files"),
#        JOBS (default 2), PG_URI (a postgresql:// URI; default: scripts/setup-postgres.sh starts the
#        test cluster and its URL is used). Each kind runs in a schema of its own, dropped at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
py=/usr/bin/python3
runs=${RUNS:-5}
jobs=${JOBS:-2}
kinds=${KINDS:-noop files}
baton=${BATON:-$root/build/release/baton}
[ -x "$baton" ] || { echo "no baton binary at $baton (set BATON=...)" >&2; exit 2; }
baton=$(cd "$(dirname "$baton")" && pwd)/$(basename "$baton")
pg=${PG_URI:-$("$root/scripts/setup-postgres.sh" | tail -1)}
case $pg in postgresql://* | postgres://*) ;; *) echo "not a PostgreSQL URI: $pg" >&2; exit 2 ;; esac

work=$(mktemp -d "${TMPDIR:-/tmp}/baton-pgchain.XXXXXX")
schemas=()
cleanup() {
  if command -v psql >/dev/null; then
    for s in "${schemas[@]}"; do psql "$pg" -qc "DROP SCHEMA IF EXISTS $s CASCADE" >/dev/null 2>&1 || true; done
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# Seconds one command takes.
seconds() { "$py" -c 'import subprocess,sys,time; t=time.monotonic(); r=subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); sys.exit(r.returncode) if r.returncode else print(f"{time.monotonic()-t:.4f}")' "$@"; }
median() { "$py" -c 'import statistics,sys; print(f"{statistics.median(map(float, sys.argv[1:])):.4f}")' "$@"; }

echo "baton: $baton; PostgreSQL: ${pg%%\?*}; -j $jobs, $runs runs each, every step executed"
for kind in $kinds; do
  dir=$work/$kind
  "$py" "$root/bench/dag/gen_dags.py" chain200 "$kind" "$dir" >/dev/null
  steps=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["steps"])' "$dir/meta.json")
  schema=bench_chain_$$_$kind
  schemas+=("$schema")
  sep='?'
  case $pg in *\?*) sep='&' ;; esac
  declare -A uri=([sqlite]="" [postgresql]="$pg${sep}schema=$schema")
  declare -A med=()
  for store in sqlite postgresql; do
    ws=$dir/$store
    mkdir -p "$ws"
    cp "$dir/pipeline.yaml" "$ws/"
    export BATON_METADATA_URI=${uri[$store]}
    [ -n "$BATON_METADATA_URI" ] || unset BATON_METADATA_URI
    (cd "$ws" && "$baton" init >/dev/null)
    cmd=("$baton" run pipeline.yaml -j "$jobs" --no-cache -q)
    (cd "$ws" && "${cmd[@]}" >/dev/null) || { echo "FAIL: $store run failed" >&2; exit 1; }  # warm-up
    times=()
    for _ in $(seq "$runs"); do
      rm -rf "$ws/out" && mkdir -p "$ws/out"
      times+=("$(cd "$ws" && seconds "${cmd[@]}")")
    done
    med[$store]=$(median "${times[@]}")
    echo "chain200/$kind on $store: ${times[*]} s (median ${med[$store]} s)"
  done
  unset BATON_METADATA_URI
  "$py" -c 'import sys; s, p, n = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]); d = (p - s) / n * 1000
print(f"chain200/{sys.argv[4]}: PostgreSQL {d:+.2f} ms per step against SQLite ({n} steps; goal under 2 ms)")' \
    "${med[sqlite]}" "${med[postgresql]}" "$steps" "$kind"
done
