#!/usr/bin/env bash
# Checks baton's layering over the sources: which layer's headers each file includes, and that
# only src/platform calls the operating system. The build enforces the first rule through
# per-layer include roots (cmake/Layers.cmake); this check also sees relative includes, system
# headers and calls, and names every offending file:line.
#
# Usage: layering_check.sh SOURCE_ROOT [ALLOWLIST]
#
# Scans every .h/.hpp/.cc/.cpp under SOURCE_ROOT/src and SOURCE_ROOT/include, except unit tests
# (*_test.cc, which may include anything). A file's layer is its folder under src/ (include/ is
# the public interface layer, "baton"). Layers and what they may include, bottom to top:
#   baton     include/baton: baton
#   base      src/base (pure helpers for include/baton): baton, base
#   platform  the only code that calls the OS: baton, platform
#   core      baton, core
#   store     baton, platform, store
#   flavors   baton, platform, core, flavors
#   app       baton, platform, core, store, flavors, app
#   cli       app's and cli
#   api       cli's and api
#   server    app's and server (the baton-server binary)
# Outside src/platform no file may include a header that calls the OS (<unistd.h>, <fcntl.h>,
# <dirent.h>, <dlfcn.h>, <signal.h>, <csignal>, <spawn.h>, <poll.h>, <termios.h>, <pwd.h>,
# <grp.h>, <pthread.h>, <sys/...>) nor call getenv, system, popen or fork.
#
# ALLOWLIST (default: SOURCE_ROOT/tests/layering_allowlist.txt, when it exists) holds findings
# that are tolerated for now: one `path:pattern` a line, where path is relative to SOURCE_ROOT and
# pattern is text of the offending line; each entry follows one or more `#` comment lines that say
# why it is there. An entry that matches no finding is an error, so that fixed findings leave it.
#
# Exits 0 when the sources follow the rules, 1 with one `file:line: ...` line per finding when
# they do not, and 2 on a usage error.

set -euo pipefail

usage() {
  echo "usage: $0 SOURCE_ROOT [ALLOWLIST]" >&2
  exit 2
}

[[ $# -ge 1 && $# -le 2 ]] || usage
root=$1
[[ -d "$root/src" && -d "$root/include" ]] || {
  echo "$0: $root has no src/ and include/ folders" >&2
  exit 2
}
if [[ $# -eq 2 ]]; then
  allowlist=$2
  [[ -f "$allowlist" ]] || {
    echo "$0: no allowlist file $allowlist" >&2
    exit 2
  }
elif [[ -f "$root/tests/layering_allowlist.txt" ]]; then
  allowlist=$root/tests/layering_allowlist.txt
else
  allowlist=
fi
# The allowlist is read after changing to the source root.
if [[ -n "$allowlist" && "$allowlist" != /* ]]; then allowlist=$PWD/$allowlist; fi

cd "$root"
files=()
while IFS= read -r f; do files+=("$f"); done < <(
  find src include -type f \( -name '*.h' -o -name '*.hpp' -o -name '*.cc' -o -name '*.cpp' \) \
    ! -name '*_test.cc' ! -name '*_test.cpp' | LC_ALL=C sort)
if [[ ${#files[@]} -eq 0 ]]; then
  echo "layering check: no sources under $root/src and $root/include" >&2
  exit 1
fi

# POSIX awk only (no gawk extensions): Debian's default awk may be mawk.
LC_ALL=C awk -v allowlist="$allowlist" -v nfiles="${#files[@]}" '
BEGIN {
  may["baton"] = " baton "
  may["base"] = " baton base "
  may["platform"] = " baton platform "
  may["core"] = " baton core "
  may["store"] = " baton platform store "
  may["flavors"] = " baton platform core flavors "
  may["app"] = " baton platform core store flavors app "
  may["cli"] = " baton platform core store flavors app cli "
  may["api"] = " baton platform core store flavors app cli api "
  may["server"] = " baton platform core store flavors app server "
  os_headers = " unistd.h fcntl.h dirent.h dlfcn.h signal.h csignal spawn.h poll.h termios.h pwd.h grp.h pthread.h "
  nfound = 0
  nerrors = 0
  nallow = 0
  if (allowlist != "") ReadAllowlist(allowlist)
  # A file outside the known layers may include no layer at all.
  for (i = 1; i < ARGC; i++) {
    if (LayerOf(ARGV[i]) in may) continue
    FoundAt(ARGV[i], 1, "", "folder " Dir(ARGV[i]) " is in no layer of the layering table (tests/layering_check.sh)")
  }
  may["(unknown)"] = " "
}

function ReadAllowlist(path,    line, n, commented, colon, p, pat) {
  n = 0
  commented = 0
  while ((getline line < path) > 0) {
    n++
    sub(/^[ \t]+/, "", line)
    sub(/[ \t\r]+$/, "", line)
    if (line == "") continue
    if (substr(line, 1, 1) == "#") { commented = 1; continue }
    colon = index(line, ":")
    p = substr(line, 1, colon - 1)
    pat = substr(line, colon + 1)
    sub(/^[ \t]+/, "", pat)
    if (colon <= 1 || pat == "") {
      Error(path ":" n ": not a `path:pattern` entry: " line)
      continue
    }
    if (!commented) Error(path ":" n ": allowlist entry without a comment above it saying why it is there")
    commented = 0
    nallow++
    allow_path[nallow] = p
    allow_pattern[nallow] = pat
    allow_where[nallow] = path ":" n
    allow_used[nallow] = 0
  }
  close(path)
}

function Error(msg) { errors[++nerrors] = msg }

# Layer of a path relative to the source root ("" when it is in no layer).
function LayerOf(path,    parts, n) {
  n = split(path, parts, "/")
  if (parts[1] == "include" && n >= 2) return "baton"
  if (parts[1] == "src" && n >= 3) return parts[2]
  return ""
}

function Dir(path) {
  if (path !~ /\//) return "."
  sub(/\/[^\/]*$/, "", path)
  return path
}

# Folds "." and ".." out of a relative path; "" when it climbs above the root.
function Normalize(path,    parts, n, i, out, k, res) {
  n = split(path, parts, "/")
  k = 0
  for (i = 1; i <= n; i++) {
    if (parts[i] == "" || parts[i] == ".") continue
    if (parts[i] == "..") {
      if (k == 0) return ""
      k--
      continue
    }
    out[++k] = parts[i]
  }
  res = ""
  for (i = 1; i <= k; i++) res = res (i > 1 ? "/" : "") out[i]
  return res
}

function Exists(path,    line, r) {
  r = (getline line < path)
  if (r >= 0) close(path)
  return r >= 0
}

function IsOsHeader(h) { return index(os_headers, " " h " ") > 0 || h ~ /^sys\// }

function FoundAt(file, line, text, msg) {
  nfound++
  found_file[nfound] = file
  found_line[nfound] = line
  found_text[nfound] = text
  found_msg[nfound] = msg
}

# A finding on the current line.
function Found(msg) { FoundAt(FILENAME, FNR, raw, msg) }

# The layer a quoted include refers to, or "" when it names no layer (a third-party header).
# Like the compiler, looks beside the including file first, then in the include roots.
function IncludedLayer(inc,    local, first) {
  local = Normalize(Dir(FILENAME) "/" inc)
  if (local != "" && Exists(local)) return LayerOf(local) == "" ? "(outside src/ and include/)" : LayerOf(local)
  first = inc
  sub(/\/.*/, "", first)
  if (inc ~ /\// && (first in may)) return first
  return ""
}

function CheckInclude(    spec, delim, name, target) {
  spec = raw
  sub(/^[ \t]*#[ \t]*include[ \t]*/, "", spec)
  delim = substr(spec, 1, 1)
  if (delim == "\"") {
    name = substr(spec, 2)
    if (index(name, "\"") == 0) return
    name = substr(name, 1, index(name, "\"") - 1)
    target = IncludedLayer(name)
    if (target != "" && index(may[layer], " " target " ") == 0) {
      Found("layer " layer " may not include \"" name "\" (layer " target ")")
      return
    }
  } else if (delim == "<") {
    name = substr(spec, 2)
    if (index(name, ">") == 0) return
    name = substr(name, 1, index(name, ">") - 1)
  } else {
    return
  }
  if (layer != "platform" && target == "" && IsOsHeader(name))
    Found("layer " layer " may not include " (delim == "<" ? "<" name ">" : "\"" name "\"") \
          " (only src/platform calls the operating system)")
}

function CheckCalls(code,    names, n, i, re) {
  if (layer == "platform") return
  n = split("getenv secure_getenv system popen fork vfork", names, " ")
  for (i = 1; i <= n; i++) {
    if (names[i] ~ /getenv$/) re = "(^|[^A-Za-z0-9_])" names[i] "([^A-Za-z0-9_]|$)"
    else re = "(^|[^A-Za-z0-9_.>])" names[i] "[ \t]*\\("
    if (code ~ re) Found("layer " layer " may not call " names[i] " (only src/platform calls the operating system)")
  }
}

# Returns the line with comments removed and the contents of string and character literals
# emptied, carrying block comments and raw strings over lines in `state` ("" is code).
function Sanitize(line,    out, i, n, c, c2, j, tok, d, close_at) {
  out = ""
  n = length(line)
  i = 1
  while (i <= n) {
    c = substr(line, i, 1)
    c2 = substr(line, i, 2)
    if (state == "comment") {
      if (c2 == "*/") { state = ""; i += 2; out = out " " } else i++
      continue
    }
    if (state == "raw") {
      close_at = index(substr(line, i), ")" raw_delim "\"")
      if (close_at == 0) { i = n + 1; continue }
      i += close_at + length(raw_delim) + 1
      out = out "\"\""
      state = ""
      continue
    }
    if (c2 == "//") break
    if (c2 == "/*") { state = "comment"; i += 2; continue }
    if (c == "R" && substr(line, i + 1, 1) == "\"") {
      tok = substr(line, 1, i - 1)
      sub(/.*[^A-Za-z0-9_]/, "", tok)
      if (tok == "" || tok == "L" || tok == "u" || tok == "U" || tok == "u8") {
        d = substr(line, i + 2)
        j = index(d, "(")
        if (j > 0) {
          raw_delim = substr(d, 1, j - 1)
          state = "raw"
          i += 2 + j
          continue
        }
      }
    }
    if (c == "\"" || c == "\047") {
      if (c == "\047") {
        # A digit separator, as in 10,000 written with a quote, is not a character literal.
        tok = substr(line, 1, i - 1)
        sub(".*[^A-Za-z0-9_.\047]", "", tok)
        if (tok ~ /^[0-9]/) { out = out c; i++; continue }
      }
      for (j = i + 1; j <= n; j++) {
        if (substr(line, j, 1) == "\\") { j++; continue }
        if (substr(line, j, 1) == c) break
      }
      out = out c c
      i = j + 1
      continue
    }
    out = out c
    i++
  }
  return out
}

FNR == 1 {
  state = ""
  layer = LayerOf(FILENAME)
  if (!(layer in may)) layer = "(unknown)"
}

{
  raw = $0
  at_code = (state == "")
  code = Sanitize(raw)
  if (at_code && raw ~ /^[ \t]*#[ \t]*include/) CheckInclude()
  CheckCalls(code)
}

END {
  nshown = 0
  for (f = 1; f <= nfound; f++) {
    allowed = 0
    for (a = 1; a <= nallow; a++) {
      if (allow_path[a] == found_file[f] && index(found_text[f], allow_pattern[a]) > 0) {
        allow_used[a] = 1
        allowed = 1
      }
    }
    if (!allowed) {
      print found_file[f] ":" found_line[f] ": " found_msg[f]
      nshown++
    }
  }
  for (a = 1; a <= nallow; a++)
    if (!allow_used[a])
      Error(allow_where[a] ": allowlist entry matches no finding (remove it): " allow_path[a] ":" allow_pattern[a])
  for (e = 1; e <= nerrors; e++) print errors[e]
  if (nshown + nerrors > 0) {
    print "layering check: " nshown " violation(s), " nerrors " allowlist error(s) in " nfiles " files"
    exit 1
  }
  print "layering check: OK (" nfiles " files, " (nfound - nshown) " allowlisted finding(s))"
}
' "${files[@]}"
