#!/usr/bin/env bash
# Per-step cost of running steps in containers: a 50-step chain of no-op steps (each waits for
# the one before, so nothing overlaps) run three ways, with the cache off:
#   cold   local_docker, one container per step (podman run)
#   warm   local_docker with reuse_containers: one container per run, steps via podman exec
#   local  the local orchestrator: plain processes
# The image is built before timing (a run reuses it). Prints the per-step time and the ratios.
# usage: bench/containers.sh    env: RUNS (default 3), STEPS (default 50), BATON (default build/release/baton)
# needs: podman set up by scripts/setup-podman.sh, hyperfine
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/need.sh"
need hyperfine
root=$(cd "$here/.." && pwd)
baton=${BATON:-$root/build/release/baton}
runs=${RUNS:-3}
steps=${STEPS:-50}
work=$(mktemp -d "${TMPDIR:-/tmp}/baton-containers.XXXXXX")
trap 'podman images -q --filter "label=baton.code_dir=$work" | sort -u | xargs -r podman rmi -f >/dev/null 2>&1; rm -rf "$work"' EXIT
cd "$work"
{
  echo "name: chain"
  echo "steps:"
  echo "  s1: {run: 'true'}"
  for i in $(seq 2 "$steps"); do echo "  s$i: {run: 'true', after: [s$((i - 1))]}"; done
} > pipeline.yaml
"$baton" init >/dev/null
"$baton" orchestrator register cold --flavor local_docker >/dev/null
"$baton" orchestrator register warm --flavor local_docker --set reuse_containers=true >/dev/null
"$baton" stack register cold --orchestrator cold >/dev/null
"$baton" stack register warm --orchestrator warm >/dev/null
"$baton" build pipeline.yaml --stack cold >/dev/null
hyperfine -N -w 1 -r "$runs" --export-json "$work/containers.json" \
  -n cold "$baton run pipeline.yaml --stack cold --no-cache -q" \
  -n warm "$baton run pipeline.yaml --stack warm --no-cache -q" \
  -n local "$baton run pipeline.yaml --stack default --no-cache -q"
/usr/bin/python3 - "$work/containers.json" "$steps" <<'PY'
import json, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
steps = int(sys.argv[2])
local = res["local"]["median"]
print(f"\n| mode | median s ({steps}-step chain) | per step ms | vs local |")
print("|---|---|---|---|")
for name in ("cold", "warm", "local"):
    m = res[name]["median"]
    print(f"| {name} | {m:.2f} | {m / steps * 1000:.0f} | {m / local:.1f}x |")
cold, warm = res["cold"]["median"], res["warm"]["median"]
print(f"\ncold / warm = {cold / warm:.1f}x; container start-up per step (cold - local) = "
      f"{(cold - local) / steps * 1000:.0f} ms, warm overhead per step (warm - local) = {(warm - local) / steps * 1000:.0f} ms")
PY
