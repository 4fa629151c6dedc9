#!/usr/bin/env bash
# Large outputs: a one-step run whose step leaves a 3 GiB file, and one whose step leaves a
# directory of 100,000 small files, each hashed and stored by baton, beside `sha256sum` of the
# same data (one process for the file; `find | xargs -P <cores> sha256sum` for the tree). Each
# step moves a fresh copy of prepared data into its output (a rename), so a run times baton's own
# work: start-up, hashing, storing, recording. Data is read from the page cache (it was just
# written), as a step's fresh output usually is.
# usage: bench/outputs.sh   env: RUNS (default 5), BATON (default build/release/baton),
#   BATON_BASE (another build to time beside it), BIG_MIB (3072), FILES (100000)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/need.sh"
need hyperfine
root=$(cd "$here/.." && pwd)
baton=${BATON:-$root/build/release/baton}
runs=${RUNS:-5}
big_mib=${BIG_MIB:-3072}
files=${FILES:-100000}
cores=$(nproc)
work=$(mktemp -d "${TMPDIR:-/tmp}/baton-outputs.XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/data"
echo "bench: writing ${big_mib} MiB and ${files} files under $work" >&2
head -c "$((big_mib * 1024 * 1024))" /dev/urandom > "$work/data/big"
/usr/bin/python3 - "$work/data/tree" "$files" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(7)
for i in range(n):
    d = os.path.join(root, f"shard{i % 100:02d}", f"part{(i // 100) % 10}")
    if i < 1000:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i:06d}.bin"), "wb") as f:
        f.write(rng.randbytes(rng.randint(256, 8192)))
PY
du -sh "$work/data/tree" >&2

for what in big tree; do
  cat > "$work/$what.yaml" <<EOF
name: $what-output
steps:
  produce:
    run: mv "$work/stage/$what" {{outputs.out}}
    outputs: [out]
EOF
done

# Before each timed run: a fresh workspace and a fresh copy of the data to move.
cat > "$work/prepare.sh" <<'EOF'
#!/bin/sh
set -e
w=$(dirname "$0")
chmod -R u+w "$w/ws" 2>/dev/null || true
rm -rf "$w/ws" "$w/stage"
mkdir "$w/ws" "$w/stage"
[ "$1" = - ] || cp -a "$w/data/$1" "$w/stage/$1"
EOF
chmod +x "$work/prepare.sh"

results=()
# time_it NAME DATA COMMAND   (DATA: what to copy for the step to move, or - for nothing)
time_it() {
  local json="$work/r${#results[@]}.json"
  hyperfine -w 1 -r "$runs" -n "$1" --prepare "$work/prepare.sh $2" --export-json "$json" "$3" >&2
  results+=("$json")
}
big="$big_mib MiB file"
tree="$files files"
time_it "baton: $big" big "sh -c 'cd $work/ws && $baton run $work/big.yaml -q --no-cache'"
if [ -n "${BATON_BASE:-}" ]; then
  time_it "base: $big" big "sh -c 'cd $work/ws && $BATON_BASE run $work/big.yaml -q --no-cache'"
fi
time_it "sha256sum: $big" - "sha256sum $work/data/big"
time_it "baton: $tree" tree "sh -c 'cd $work/ws && $baton run $work/tree.yaml -q --no-cache'"
if [ -n "${BATON_BASE:-}" ]; then
  time_it "base: $tree" tree "sh -c 'cd $work/ws && $BATON_BASE run $work/tree.yaml -q --no-cache'"
fi
time_it "find | xargs -P $cores sha256sum: $tree" - \
  "sh -c 'cd $work/data/tree && find . -type f -print0 | xargs -0 -P $cores -n 2000 sha256sum >/dev/null'"
/usr/bin/python3 "$here/medians.py" s "${results[@]}"
