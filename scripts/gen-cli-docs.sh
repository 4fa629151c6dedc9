#!/bin/sh
# Regenerates docs/cli.md, the command reference, from the commands themselves (the hidden
# `baton docs`). Usage: scripts/gen-cli-docs.sh [BATON_BINARY]   (default: build/dev/baton)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
baton=${1:-$root/build/dev/baton}
if [ ! -x "$baton" ]; then
  echo "gen-cli-docs: no baton binary at $baton; build it first or name it" >&2
  exit 2
fi
"$baton" docs > "$root/docs/cli.md.tmp"
mv "$root/docs/cli.md.tmp" "$root/docs/cli.md"
echo "wrote docs/cli.md"
