#!/usr/bin/env bash
# baton on Slurm against plain sbatch on the same cluster (scripts/setup-slurm.sh), side by side:
#   fan100      100 independent no-op steps
#   layered100  10 layers of 10 no-op steps, each step after one step of the layer before
# "sbatch" submits the same jobs (with the same afterok edges) from a shell script and polls
# squeue until they are gone, at the same 200 ms interval baton polls at. The difference is
# what baton adds per step: its entrypoint, the metadata it records, its polling.
#
# Usage: bench/slurm.sh [BATON_BINARY]   (RUNS=3 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
baton=$(realpath "${1:-build/release/baton}")
runs=${RUNS:-3}
. bench/need.sh
need hyperfine
scontrol ping | grep -q UP || { echo "no Slurm cluster: run scripts/setup-slurm.sh" >&2; exit 1; }

work=$(mktemp -d /tmp/baton-bench-slurm.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
"$baton" init >/dev/null
"$baton" orchestrator register hpc --flavor slurm --set poll_interval=200ms >/dev/null
"$baton" stack register hpc --orchestrator hpc >/dev/null

{ echo "name: fan100"; echo "steps:"
  for i in $(seq 0 99); do echo "  s$i: {run: \"true\"}"; done; } > fan100.yaml
{ echo "name: layered100"; echo "steps:"
  for l in $(seq 0 9); do for k in $(seq 0 9); do
    if [ "$l" = 0 ]; then echo "  s${l}_$k: {run: \"true\"}"
    else echo "  s${l}_$k: {run: \"true\", after: [s$((l - 1))_$(((k + l) % 10))]}"; fi
  done; done; } > layered100.yaml

# The same DAGs as plain sbatch jobs.
cat > sbatch-dag.sh <<'EOF'
#!/usr/bin/env bash
# sbatch-dag.sh fan|layered: submit, then wait until squeue no longer lists the jobs.
set -euo pipefail
declare -A id
ids=""
if [ "$1" = fan ]; then
  for i in $(seq 0 99); do j=$(sbatch --parsable -o /dev/null --wrap true); ids="$ids,$j"; done
else
  for l in $(seq 0 9); do for k in $(seq 0 9); do
    dep=""
    [ "$l" -gt 0 ] && dep="--dependency=afterok:${id[$((l - 1))_$(((k + l) % 10))]}"
    j=$(sbatch --parsable -o /dev/null $dep --wrap true); id[${l}_$k]=$j; ids="$ids,$j"
  done; done
fi
while [ -n "$(squeue -h -j "${ids#,}" 2>/dev/null)" ]; do sleep 0.2; done
EOF
chmod +x sbatch-dag.sh

hyperfine --runs "$runs" --warmup 1 --export-json results.json \
  -n "baton fan100" "'$baton' run fan100.yaml --stack hpc --no-cache -q" \
  -n "sbatch fan100" "./sbatch-dag.sh fan" \
  -n "baton layered100" "'$baton' run layered100.yaml --stack hpc --no-cache -q" \
  -n "sbatch layered100" "./sbatch-dag.sh layered" \
  -n "baton local fan100" "'$baton' run fan100.yaml --no-cache -q"

echo
echo "baton's own submission (last run):"
cat .baton/logs/layered100-*/slurm/submit.log | tail -1
echo
/usr/bin/python3 - results.json <<'EOF'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
for shape in ("fan100", "layered100"):
    b, s = r["baton " + shape], r["sbatch " + shape]
    print(f"{shape}: baton {b:.2f} s, sbatch {s:.2f} s, baton/sbatch {b / s:.2f}x, "
          f"baton - sbatch {1000 * (b - s) / 100:+.1f} ms per step")
print(f"fan100 locally (no Slurm): {r['baton local fan100']:.2f} s")
EOF
