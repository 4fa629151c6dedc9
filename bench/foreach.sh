#!/usr/bin/env bash
# Dynamic fan-out against the same work written out: a for_each over an N-element list of no-op
# instances (their number known only when the list step has run) beside a pipeline of N static
# no-op steps after one list step. Both with full tracking, `--no-cache`, -j 2, a fresh workspace
# each run; hyperfine, medians, and the per-instance cost of each.
# usage: bench/foreach.sh   env: N (default 10000), RUNS (default 5), BATON (default build/release/baton)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/need.sh"
need hyperfine
root=$(cd "$here/.." && pwd)
baton=${BATON:-$root/build/release/baton}
n=${N:-10000}
runs=${RUNS:-5}
work=$(mktemp -d "${TMPDIR:-/tmp}/baton-foreach.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
cat > dynamic.yaml <<YAML
name: dynamic
version: 2
steps:
  list:
    run: seq $n > {{outputs.items}}
    outputs: [items]
  work:
    for_each: {items: list.items, as: lines}
    run: "true"
YAML
{
  printf 'name: static\nsteps:\n  list:\n    run: seq %s > {{outputs.items}}\n    outputs: [items]\n' "$n"
  for i in $(seq 0 $((n - 1))); do printf '  w%s: {run: "true", after: [list]}\n' "$i"; done
} > static.yaml
hyperfine -N -w 1 -r "$runs" --prepare "rm -rf $work/.baton" --export-json "$work/r.json" \
  -n "for_each over $n elements" "$baton run dynamic.yaml -q --no-cache -j 2" \
  -n "$n static steps" "$baton run static.yaml -q --no-cache -j 2"
/usr/bin/python3 "$here/medians.py" s "$work/r.json"
/usr/bin/python3 - "$work/r.json" "$n" <<'PY'
import json, sys
rs = json.load(open(sys.argv[1]))["results"]
n = int(sys.argv[2])
dyn, sta = rs[0]["median"], rs[1]["median"]
print(f"\nper instance: {dyn / n * 1e6:.0f} us (for_each), {sta / n * 1e6:.0f} us (static); for_each / static = {dyn / sta:.2f}x")
PY
