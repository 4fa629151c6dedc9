#!/usr/bin/env bash
# Start-up: `baton --version`, `baton runs list` (a workspace with 50 runs) and a one-step run in
# a fresh directory (the workspace is created by the run), each beside ninja doing the nearest
# thing: `ninja --version`, `ninja -t targets` on a built tree, and a one-edge build in a fresh
# directory (ninja writes its log there). hyperfine, no shell in between (-N), medians.
# usage: bench/startup.sh   env: RUNS (default 40), BATON (default build/release/baton),
#   BATON_BASE (another build to time beside it)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/need.sh"
need hyperfine ninja
root=$(cd "$here/.." && pwd)
baton=${BATON:-$root/build/release/baton}
runs=${RUNS:-40}
work=$(mktemp -d "${TMPDIR:-/tmp}/baton-startup.XXXXXX")
trap 'rm -rf "$work"' EXIT

# A workspace with 50 recorded runs, and a ninja tree built once.
mkdir -p "$work/ws" "$work/fresh"
cat > "$work/one.yaml" <<'EOF'
name: one
steps:
  only:
    run: "true"
EOF
printf 'rule r\n  command = true\nbuild x: r\n' > "$work/build.ninja"
(cd "$work/ws" && "$baton" init >/dev/null && for i in $(seq 50); do
  "$baton" run "$work/one.yaml" -q --no-cache >/dev/null; done)
cp "$work/build.ninja" "$work/ws/build.ninja"
(cd "$work/ws" && ninja >/dev/null)

json=()
# time_it JSON_NAME [hyperfine args...]
time_it() {
  local out="$work/$1.json"
  shift
  hyperfine -N -w 3 -r "$runs" --export-json "$out" "$@" >&2
  json+=("$out")
}
cd "$work/ws"
args=(-n "baton --version" "$baton --version")
[ -n "${BATON_BASE:-}" ] && args+=(-n "base --version" "$BATON_BASE --version")
args+=(-n "ninja --version" "ninja --version")
time_it version "${args[@]}"
args=(-n "baton runs list (50 runs)" "$baton runs list")
[ -n "${BATON_BASE:-}" ] && args+=(-n "base runs list (50 runs)" "$BATON_BASE runs list")
args+=(-n "ninja -t targets" "ninja -t targets")
time_it list "${args[@]}"
# Emptied before every run: the workspace (or ninja's log) is created each time.
cd "$work/fresh"
cp "$work/build.ninja" "$work/fresh/"
prep="rm -rf $work/fresh/.baton $work/fresh/.ninja_log $work/fresh/.ninja_deps"
args=(--prepare "$prep" -n "baton: one step, fresh directory" "$baton run $work/one.yaml -q")
[ -n "${BATON_BASE:-}" ] && args+=(-n "base: one step, fresh directory" "$BATON_BASE run $work/one.yaml -q")
args+=(-n "ninja: one edge, fresh directory" "ninja -C $work/fresh")
time_it fresh "${args[@]}"
/usr/bin/python3 "$here/medians.py" ms "${json[@]}"
