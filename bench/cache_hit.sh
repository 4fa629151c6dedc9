#!/usr/bin/env bash
# Cost of a fully cached run: the layered 1000-step DAG (files kind) is run once, then timed
# when every step is a cache hit, side by side with ninja's and make's "nothing to do" runs of
# the same DAG. Prints the per-step cost of a hit.
# usage: bench/cache_hit.sh    env: RUNS (default 10), BATON (default build/release/baton)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/need.sh"
need hyperfine make ninja
root=$(cd "$here/.." && pwd)
baton=${BATON:-$root/build/release/baton}
runs=${RUNS:-10}
work=$(mktemp -d "${TMPDIR:-/tmp}/baton-cache.XXXXXX")
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 "$here/dag/gen_dags.py" layered1000 files "$work" >/dev/null
cd "$work"
mkdir -p out
"$baton" init >/dev/null
"$baton" run pipeline.yaml -j 2 -q >/dev/null
ninja -j2 >/dev/null
make -j2 -f Makefile >/dev/null
hyperfine -N -w 2 -r "$runs" --export-json "$work/cache.json" \
  "$baton run pipeline.yaml -j 2 -q" 'ninja -j2' 'make -j2 -f Makefile'
/usr/bin/python3 - "$work/cache.json" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
print("\n| tool | median s (1000 steps, all up to date) | per step ms |")
print("|---|---|---|")
for r in res:
    name = r["command"].split()[0].split("/")[-1]
    print(f"| {name} | {r['median']:.3f} | {r['median'] / 1000 * 1000:.3f} |")
PY
