#!/usr/bin/env bash
# What the dashboard's browser test (tests/dashboard_test.cc) drives the pages with: Debian's
# Chromium, Node.js and npm, and playwright-core at the version tests/browser/package-lock.json
# pins (installed with `npm ci` into tests/browser/node_modules).
#
#   scripts/setup-browser.sh          installs what is missing (the packages as root), then `npm ci`
#                                     when node_modules does not match the lock file; idempotent
#   scripts/setup-browser.sh --check  prints what is there and exits 0 when the test can run
set -euo pipefail
cd "$(dirname "$0")/.."
dir=tests/browser
mode=${1:-install}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
# The version of playwright-core the lock file pins, and the one in node_modules ("" if none).
pinned() { node -e 'console.log(require("./'$dir'/package-lock.json").packages["node_modules/playwright-core"].version)'; }
present() {
  [ -f "$dir/node_modules/playwright-core/package.json" ] || return 0
  node -e 'console.log(require("./'$dir'/node_modules/playwright-core/package.json").version)'
}

case "$mode" in
  --check)
    ok=1
    if [ -x /usr/bin/chromium ]; then
      echo "chromium: $(/usr/bin/chromium --version 2>/dev/null | head -1)"
    else
      echo "chromium: missing (/usr/bin/chromium)"; ok=0
    fi
    if command -v node >/dev/null; then
      echo "node: $(node --version) ($(command -v node))"
      echo "playwright-core: $(present || true) in $dir/node_modules (pinned: $(pinned))"
      [ "$(present)" = "$(pinned)" ] || ok=0
    else
      echo "node: missing"; ok=0
    fi
    ((ok)) && exit 0 || exit 1
    ;;
  install) ;;
  *)
    echo "usage: $0 [--check]" >&2
    exit 2
    ;;
esac

missing=()
installed chromium || missing+=(chromium)
# Node.js from Debian (18.x on Debian 12) or from elsewhere: any node >= 18 with npm will do.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "$0: ${missing[*]} missing; run this script as root once to install them" >&2
    exit 1
  fi
  echo "setup-browser: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    { apt-get -o DPkg::Lock::Timeout=600 update -qq && apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null; }
fi

if [ "$(present)" != "$(pinned)" ]; then
  # playwright-core downloads no browser of its own: the test launches /usr/bin/chromium.
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "setup-browser: $(/usr/bin/chromium --version 2>/dev/null | head -1), node $(node --version), playwright-core $(present)"
