#!/usr/bin/env bash
# Time the same DAGs under a plain-sh baseline, make, ninja and baton, side by side.
# usage: bench/dag/run.sh [SHAPE...]     (default: chain200 fan500 layered1000)
# env:   RUNS (default 5), KINDS (default "noop files"), JOBS (default 2),
#        BATON (default <repo>/build/release/baton),
#        BATON_BASE (another baton build, e.g. of an earlier commit, timed beside it as baton-base)
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../need.sh"
need hyperfine make ninja
root=$(cd "$here/../.." && pwd)
py=/usr/bin/python3
runs=${RUNS:-5}
jobs=${JOBS:-2}
kinds=${KINDS:-noop files}
shapes=${*:-chain200 fan500 layered1000}
results=$here/results
mkdir -p "$results"

baton=${BATON:-$root/build/release/baton}
case $baton in
  */*) [ -d "${baton%/*}" ] && baton=$(cd "${baton%/*}" && pwd)/${baton##*/} ;;
  *) baton=$(command -v "$baton" || echo "$baton") ;;
esac
baton_args="-j $jobs"
if [ -x "$baton" ]; then
  "$baton" run --help 2>&1 | grep -q -- --no-cache && baton_args="$baton_args --no-cache"
else
  echo "note: baton binary not found at $baton (set BATON=...); benchmarking make and ninja only" >&2
  baton=
fi

base=${BATON_BASE:-}
[ -z "$base" ] || [ -x "$base" ] || { echo "BATON_BASE=$base is not an executable" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/baton-dag.XXXXXX")
trap 'rm -rf "$work"' EXIT; trap 'exit 130' INT TERM
clean='rm -rf out .ninja_log && mkdir out'

# Run each tool once (twice for make/ninja: after a clean, every step must re-run) and
# check that it executed all steps.
# noop: count the commands the tool echoes; files: count the files written to out/.
check() {  # check NAME STEPS KIND CMD...
  local name=$1 steps=$2 kind=$3 n; shift 3
  for _ in 1 2; do
    sh -c "$clean"
    if ! out=$("$@" 2>&1); then echo "FAIL: $name exited non-zero:"; echo "$out" | tail -5; return 1; fi
    case $name:$kind in
      baton:*|baton-base:*) return 0 ;;  # its outputs live in .baton/; the exit status is all we check
      *:files) n=$(ls out | wc -l) ;;
      make:noop) n=$(echo "$out" | grep -cx true) ;;
      ninja:noop) n=$(echo "$out" | grep -c '^\[[0-9]*/[0-9]*\] true$') ;;
      baseline:noop) n=$steps ;;
    esac
    [ "$n" -eq "$steps" ] || { echo "FAIL: $name ran $n of $steps steps"; return 1; }
  done
}

jsons=()
for shape in $shapes; do
  for kind in $kinds; do
    dir=$work/$shape-$kind
    "$py" "$here/gen_dags.py" "$shape" "$kind" "$dir" || exit 1
    cd "$dir" || exit 1
    # Baseline: every step's command through its own `/bin/sh -c`, one after another.
    printf '%s\n' 'while IFS= read -r c; do /bin/sh -c "$c" || exit 1; done < commands.txt' > baseline.sh
    steps=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["steps"])' meta.json)
    echo "== $shape / $kind: $steps steps, -j $jobs, $runs runs"
    names=(baseline make ninja)
    cmds=("sh baseline.sh" "make -j$jobs -f Makefile" "ninja -j$jobs")
    if [ -n "$baton" ]; then
      "$baton" init >/dev/null || { echo "baton init failed" >&2; exit 1; }
      names+=(baton); cmds+=("$baton run pipeline.yaml $baton_args")
    fi
    if [ -n "$base" ]; then
      # Its own workspace, so that neither build reads the other's records.
      BATON_DIR=.baton-base "$base" init >/dev/null || { echo "baton-base init failed" >&2; exit 1; }
      names+=(baton-base); cmds+=("BATON_DIR=.baton-base $base run pipeline.yaml $baton_args")
    fi
    ok=1
    for i in "${!names[@]}"; do
      check "${names[$i]}" "$steps" "$kind" sh -c "${cmds[$i]}" || ok=
    done
    [ -n "$ok" ] || { echo "skipping $shape/$kind: sanity check failed" >&2; cd "$root"; continue; }
    args=()
    for i in "${!names[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
    json=$results/$shape-$kind.json
    if hyperfine --warmup 1 --runs "$runs" --prepare "$clean" --export-json "$json" "${args[@]}"; then
      cp meta.json "$results/$shape-$kind.meta.json"
      jsons+=("$json")
    else
      echo "hyperfine failed for $shape/$kind" >&2
    fi
    cd "$root"
  done
done

[ ${#jsons[@]} -gt 0 ] || exit 1
"$py" "$here/summarize.py" "${jsons[@]}" | tee "$results/summary.md"
