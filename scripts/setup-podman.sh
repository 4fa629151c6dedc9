#!/bin/bash
# Installs and configures podman for baton's local_docker orchestrator, and builds the local base
# images its tests and the quickstart use. Idempotent: what is already there is kept.
#
#   scripts/setup-podman.sh            podman + runc + the busybox base image
#   scripts/setup-podman.sh --python   also the Debian python3 + scikit-learn base image
#   scripts/setup-podman.sh --registry also Debian's docker-registry (a registry for the tests)
#
# Images:
#   localhost/baton-base:busybox     FROM scratch + static busybox (small; most tests)
#   localhost/baton-python:bookworm  a Debian 12 root filesystem with python3 and python3-sklearn,
#                                    built with mmdebstrap from Debian's mirror (the quickstart)
set -euo pipefail

want_python=0 want_registry=0
for a in "$@"; do
  case "$a" in
    --python) want_python=1 ;;
    --registry) want_registry=1 ;;
    *) echo "usage: $0 [--python] [--registry]" >&2; exit 2 ;;
  esac
done

export DEBIAN_FRONTEND=noninteractive
packages="podman runc busybox-static"
[ "$want_python" = 1 ] && packages="$packages mmdebstrap"
[ "$want_registry" = 1 ] && packages="$packages docker-registry"
missing=""
for p in $packages; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  echo "setup-podman: installing$missing"
  apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing >/dev/null
fi

# crun cannot create containers on hosts with hybrid cgroups (v1 controllers + a v2 mount), runc
# can. runc fails to start a container whose default ulimits are above what it may set (the
# host's own hard limits can already be too high), so they are 16384, or the host's hard limit
# when that is lower.
cap() { if [ "$1" = unlimited ] || [ "$1" -gt 16384 ]; then echo 16384; else echo "$1"; fi; }
nofile=$(cap "$(ulimit -Hn)"); nproc=$(cap "$(ulimit -Hu)")
conf=/etc/containers/containers.conf
want_conf=$(printf '# Written by baton scripts/setup-podman.sh\n[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\n[engine]\nruntime = "runc"\n' \
  "$nofile" "$nofile" "$nproc" "$nproc")
if [ ! -f "$conf" ] || [ "$(cat "$conf")" != "$want_conf" ]; then
  if [ -f "$conf" ] && ! grep -q 'baton scripts/setup-podman.sh' "$conf"; then cp "$conf" "$conf.before-baton"; fi
  mkdir -p /etc/containers
  printf '%s\n' "$want_conf" > "$conf"
fi

if ! podman image exists localhost/baton-base:busybox; then
  ctx=$(mktemp -d)
  cp /bin/busybox "$ctx/busybox"
  cat > "$ctx/Containerfile" <<'CF'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ENV PATH=/bin
CF
  podman build -q -t localhost/baton-base:busybox "$ctx" >/dev/null
  rm -rf "$ctx"
fi

if [ "$want_python" = 1 ] && ! podman image exists localhost/baton-python:bookworm; then
  # The root filesystem tarball is cached so that a rebuild of the image costs no download.
  cache=${BATON_CACHE_DIR:-/var/cache/baton}
  tarball="$cache/bookworm-python3-sklearn.tar"
  mkdir -p "$cache"
  if [ ! -s "$tarball" ]; then
    mmdebstrap --quiet --variant=apt --include=python3,python3-sklearn bookworm "$cache/partial.tar"
    mv "$cache/partial.tar" "$tarball"
  fi
  podman import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' "$tarball" localhost/baton-python:bookworm >/dev/null
fi

out=$(podman run --rm --network none localhost/baton-base:busybox sh -c 'echo podman ok')
[ "$out" = "podman ok" ] || { echo "setup-podman: a test container did not run" >&2; exit 1; }
echo "setup-podman: podman $(podman version --format '{{.Client.Version}}') ready"
