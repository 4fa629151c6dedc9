#!/usr/bin/env bash
# Checks that tests/layering_check.sh catches violations: on copies of src/ and include/ it
# passes when they are unchanged, and fails naming each file:line where a copy has a wrong-way
# include, an OS header outside src/platform or a getenv call; unit tests may include anything,
# and an allowlist entry that matches nothing fails.
#
# Usage: layering_check_selftest.sh SOURCE_ROOT

set -euo pipefail

[[ $# -eq 1 ]] || {
  echo "usage: $0 SOURCE_ROOT" >&2
  exit 2
}
root=$(cd "$1" && pwd)
checker=$root/tests/layering_check.sh
allowlist=$root/tests/layering_allowlist.txt

tmp=$(mktemp -d "${TMPDIR:-/tmp}/layering_selftest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# A copy of the sources and the allowlist, as the checker finds them in a tree.
copy_tree() {
  mkdir -p "$1/tests"
  cp -R "$root/src" "$root/include" "$1/"
  if [[ -f "$allowlist" ]]; then cp "$allowlist" "$1/tests/"; fi
}

# Inserts `text` as line 2 of `file`.
insert_line2() {
  local file=$1 text=$2
  awk -v text="$text" 'NR == 2 { print text } { print } END { if (NR < 2) print text }' "$file" >"$file.new"
  mv "$file.new" "$file"
}

run_checker() {
  local rc=0
  out=$(bash "$checker" "$@" 2>&1) || rc=$?
  return $rc
}

# Prints "ok: what" when no check failed since `before` failures.
ok_if_none_since() {
  local before=$1 what=$2
  if [[ $failures -eq $before ]]; then echo "ok: $what"; fi
}

expect_line() {
  local pattern=$1
  grep -qF -- "$pattern" <<<"$out" || fail "the output does not name $pattern:"$'\n'"$out"
}

# 1. The unmodified copy passes.
copy_tree "$tmp/clean"
if run_checker "$tmp/clean"; then
  echo "ok: the unmodified copy passes"
else
  fail "the checker fails on an unmodified copy:"$'\n'"$out"
fi

# 2. Violations in the copy are each named by file:line, and make it fail.
copy_tree "$tmp/dirty"
core_file=src/core/plan.cc
cli_file=src/cli/output.cc
getenv_file=src/core/template.cc
core_test=src/core/plan_test.cc
for f in "$core_file" "$cli_file" "$getenv_file" "$core_test"; do
  [[ -f "$tmp/dirty/$f" ]] || {
    fail "$f is not in the tree; the self-test needs another file to inject into"
    exit 1
  }
done
insert_line2 "$tmp/dirty/$core_file" '#include "store/registry.h"'
insert_line2 "$tmp/dirty/$cli_file" '#include <unistd.h>'
echo 'static const char* HomeForLayeringSelfTest() { return std::getenv("HOME"); }' >>"$tmp/dirty/$getenv_file"
getenv_line=$(wc -l <"$tmp/dirty/$getenv_file" | tr -d ' ')
insert_line2 "$tmp/dirty/$core_test" '#include "store/registry.h"'
before=$failures
if run_checker "$tmp/dirty"; then
  fail "the checker passes on a copy with violations:"$'\n'"$out"
else
  expect_line "$core_file:2: layer core may not include \"store/registry.h\""
  expect_line "$cli_file:2: layer cli may not include <unistd.h>"
  expect_line "$getenv_file:$getenv_line: layer core may not call getenv"
  if grep -qF "$core_test" <<<"$out"; then fail "a unit test was reported:"$'\n'"$out"; fi
  n=$(grep -c ': layer ' <<<"$out" || true)
  [[ "$n" -eq 3 ]] || fail "expected 3 findings, got $n:"$'\n'"$out"
  ok_if_none_since "$before" "the injected violations are reported"
fi

# 3. An allowlist entry that matches no finding fails the check.
if [[ -f "$allowlist" ]]; then cp "$allowlist" "$tmp/stale_allowlist.txt"; else : >"$tmp/stale_allowlist.txt"; fi
printf '# An entry for a finding that is gone.\nsrc/core/plan.cc:#include <nothing_like_this>\n' >>"$tmp/stale_allowlist.txt"
stale_line=$(wc -l <"$tmp/stale_allowlist.txt" | tr -d ' ')
before=$failures
if run_checker "$tmp/clean" "$tmp/stale_allowlist.txt"; then
  fail "the checker passes with an allowlist entry that matches nothing:"$'\n'"$out"
else
  expect_line "stale_allowlist.txt:$stale_line: allowlist entry matches no finding"
  n=$(grep -c ': layer ' <<<"$out" || true)
  [[ "$n" -eq 0 ]] || fail "expected only the stale entry, got:"$'\n'"$out"
  ok_if_none_since "$before" "a stale allowlist entry is reported"
fi

if [[ $failures -ne 0 ]]; then
  echo "layering check self-test: $failures failure(s)"
  exit 1
fi
echo "layering check self-test: OK"
