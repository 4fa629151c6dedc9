#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for baton's tests and benchmarks: trust authentication on
# 127.0.0.1 only, no fsync (fast, and not for data anyone keeps), database `baton_test`.
#
#   scripts/setup-postgres.sh            installs postgresql-15 if missing (as root), creates the
#                                        cluster if missing, starts it if stopped, prints its URL
#   scripts/setup-postgres.sh --stop     stops it (fast shutdown: sessions are disconnected)
#   scripts/setup-postgres.sh --restart  stops and starts it again (sessions are disconnected)
#   scripts/setup-postgres.sh --status   prints the URL and exits 0 when it runs, exits 1 otherwise
#
# Environment: BATON_PG_DIR (default /tmp/baton-pg) holds the cluster (data/), its log and socket
# (run/) and the server's PID (postgres.pid); BATON_PG_PORT (default 55432). As root the server
# runs as user postgres; as another user, as that user (the packages must be installed then).
# Runs without systemd; every mode is idempotent.
set -euo pipefail

dir=${BATON_PG_DIR:-/tmp/baton-pg}
port=${BATON_PG_PORT:-55432}
bin=/usr/lib/postgresql/15/bin
data=$dir/data
mode=${1:-start}
url="postgresql://postgres@127.0.0.1:$port/baton_test"

case "$mode" in
  start | --start | --stop | --restart | --status) ;;
  *)
    echo "usage: $0 [--stop | --restart | --status]" >&2
    exit 2
    ;;
esac

as_owner() {  # runs a command as the cluster's owner
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

running() { [ -f "$data/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; }

record_pid() { head -1 "$data/postmaster.pid" >"$dir/postgres.pid"; }

options="-p $port -k $dir/run"
start() {
  as_owner "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -o "$options" -w -t 60 start >/dev/null
  record_pid
}

if [ ! -x "$bin/initdb" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "$0: PostgreSQL 15 is not installed; run this script as root once to install it" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends postgresql-15 postgresql-client-15 >/dev/null ||
    { apt-get -o DPkg::Lock::Timeout=600 update -qq && apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
        --no-install-recommends postgresql-15 postgresql-client-15 >/dev/null; }
fi

case "$mode" in
  --stop)
    if running; then as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null; fi
    rm -f "$dir/postgres.pid"
    exit 0
    ;;
  --status)
    if running; then
      echo "$url  (pid $(head -1 "$data/postmaster.pid"))"
      exit 0
    fi
    exit 1
    ;;
esac

if [ ! -f "$data/PG_VERSION" ]; then
  mkdir -p "$dir"
  rm -rf "$data" "$dir/run"
  if [ "$(id -u)" -eq 0 ]; then
    install -d -o postgres -g postgres -m 0700 "$data"
    install -d -o postgres -g postgres -m 0755 "$dir/run"
    chown postgres:postgres "$dir"
    runuser -u postgres -- test -x "$dir" ||
      { echo "$0: user postgres cannot reach $dir (a parent directory is private)" >&2; exit 1; }
  else
    install -d -m 0700 "$data"
    install -d -m 0755 "$dir/run"
  fi
  as_owner "$bin/initdb" -D "$data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log"
  cat >>"$data/postgresql.conf" <<EOF
# baton test cluster: local, disposable, fast
listen_addresses = '127.0.0.1'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
EOF
fi

if [ "$mode" = --restart ] && running; then
  as_owner "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -o "$options" -m fast -w -t 60 restart >/dev/null
  record_pid
elif ! running; then
  start
fi

as_owner "$bin/psql" -h "$dir/run" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -tAqc \
  "SELECT 1 FROM pg_database WHERE datname = 'baton_test'" | grep -q 1 ||
  as_owner "$bin/psql" -h "$dir/run" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -qc \
    "CREATE DATABASE baton_test" >/dev/null
echo "$url"
