#!/usr/bin/env bash
# A C++ pipeline of N no-op in-process steps (layers of 100, each step after one step of the
# layer before) with full tracking: step runs recorded, logs, cache keys. Reports the whole
# `run` and the per-step cost. The binary is tests/cpp_api/pipelines.cc ("many").
# usage: bench/inprocess.sh    env: STEPS (default 10000), RUNS (default 5), BIN (default build/release/tests/test_pipelines)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/need.sh"
need hyperfine
root=$(cd "$here/.." && pwd)
bin=${BIN:-$root/build/release/tests/test_pipelines}
steps=${STEPS:-10000}
runs=${RUNS:-5}
work=$(mktemp -d "${TMPDIR:-/tmp}/baton-inproc.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
export BATON_TEST_PIPELINE=many BATON_TEST_STEPS=$steps
# Each timed run starts from an empty workspace, so the store does not grow across runs.
hyperfine -N -w 1 -r "$runs" --prepare "rm -rf $work/.baton" --export-json "$work/r.json" "$bin run -q --no-cache"
/usr/bin/python3 - "$work/r.json" "$steps" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
n = int(sys.argv[2])
print(f"\n{n} in-process no-op steps: median {r['median']:.3f} s, {r['median'] / n * 1e6:.1f} us per step (whole command, incl. start-up)")
PY
