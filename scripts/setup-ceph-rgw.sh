#!/usr/bin/env bash
# A single-host Ceph cluster with the RADOS Gateway, a real S3 server for the s3:// artifact
# store's tests and benchmarks: one monitor, one OSD (BlueStore on a sparse file, so that a 5 GiB
# object costs disk, not memory) and radosgw on 127.0.0.1:7480, with a user whose keys are
# known test keys.
#
#   scripts/setup-ceph-rgw.sh                install what is missing (Debian 12) and start;
#                                            idempotent: what runs is left running, a stopped
#                                            cluster starts again with its data, or is made
#                                            again when its OSD has too little room left
#   scripts/setup-ceph-rgw.sh --stop         stop every daemon it started (by pid file); data stays
#   scripts/setup-ceph-rgw.sh --wipe         stop, and delete the cluster's data
#   scripts/setup-ceph-rgw.sh --restart-rgw  stop and start the gateway only
#   scripts/setup-ceph-rgw.sh --stop-rgw     stop the gateway only
#   scripts/setup-ceph-rgw.sh --start-rgw    start the gateway only (the cluster must be running)
#   scripts/setup-ceph-rgw.sh --env          print the test variables of the running gateway
#   scripts/setup-ceph-rgw.sh --room         print the bytes the OSD can still take before it is
#                                            full (and holds every write)
#   scripts/setup-ceph-rgw.sh --diagnose     print the state of the cluster: free disk, daemons,
#                                            `ceph -s`, `ceph df` and the end of each daemon's log
#
# Runs as root, without systemd. stdout gets `export NAME=VALUE` lines for the tests
# (BATON_TEST_S3_ENDPOINT, BATON_TEST_S3_ACCESS_KEY, BATON_TEST_S3_SECRET_KEY, and
# BATON_TEST_S3_DATA_DIR, where the cluster keeps its data), so that
# `eval "$(scripts/setup-ceph-rgw.sh)"` sets them; progress goes to stderr. Authentication inside
# the cluster is off (it listens on loopback only); the gateway checks S3 signatures as usual.
#
# Environment: BATON_CEPH_DIR (state, default /var/lib/baton-ceph), BATON_RGW_PORT (7480),
# BATON_CEPH_DISK_GIB (size of the OSD's sparse block file, default 32: BlueStore spreads its writes,
# so over time the file takes all of it on disk; a new cluster's file is made smaller where the
# disk has less than that free and 8 GiB over, so that the OSD reports itself full before the disk
# is: an OSD that cannot grow its block file stops, and the gateway then hangs),
# BATON_CEPH_MIN_ROOM_GIB (16: a cluster whose OSD has less room than that is made again).
# Exit codes: 0 ok, 1 failure, 3 the gateway alone was asked for but no cluster is running.
set -euo pipefail

dir=${BATON_CEPH_DIR:-/var/lib/baton-ceph}
port=${BATON_RGW_PORT:-7480}
disk_gib=${BATON_CEPH_DISK_GIB:-32}
min_room_gib=${BATON_CEPH_MIN_ROOM_GIB:-16}
conf=$dir/ceph.conf
endpoint=http://127.0.0.1:$port
access_key=BATONTESTACCESSKEY01
secret_key=baton-test-secret-key-for-local-rgw-only
daemons=(client.rgw osd.0 mon.a)

log() { echo "setup-ceph-rgw: $*" >&2; }
pid_of() { cat "$dir/run/$1.pid" 2>/dev/null || true; }
alive() {
  local pid
  pid=$(pid_of "$1")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}
gateway_answers() { curl -s -o /dev/null --max-time 2 "$endpoint/"; }
osd_up() { ceph -c "$conf" osd stat 2>/dev/null | grep -q '1 up'; }
# The OSD's free bytes below Ceph's full ratio (95%), from its admin socket (no manager runs;
# the socket is asked directly, which takes a tenth of the time the ceph command does).
osd_room() {
  timeout 30 /usr/bin/python3 -c '
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"{\"prefix\": \"perf dump\"}\0")
data = b""
while len(data) < 4 or len(data) < 4 + struct.unpack(">I", data[:4])[0]:
    chunk = s.recv(1 << 16)
    if not chunk:
        sys.exit("the OSD closed its admin socket")
    data += chunk
osd = json.loads(data[4:])["osd"]
print(max(0, osd["stat_bytes_avail"] - osd["stat_bytes"] // 20))' "$dir/run/osd.0.asok"
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local secs=$1 what=$2
  shift 2
  for _ in $(seq $((secs * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  log "$what did not come up within ${secs}s; see $dir/log"
  return 1
}

stop_daemon() {  # stop_daemon NAME: SIGTERM by pid file, SIGKILL after 20 s
  local pid
  pid=$(pid_of "$1")
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/run/$1.pid"
}

print_env() {
  echo "export BATON_TEST_S3_ENDPOINT=$endpoint"
  echo "export BATON_TEST_S3_ACCESS_KEY=$access_key"
  echo "export BATON_TEST_S3_SECRET_KEY=$secret_key"
  echo "export BATON_TEST_S3_DATA_DIR=$dir"
}

# The OSD's block file no bigger than the disk can hold with 8 GiB to spare (8 GiB at least).
fit_block_to_disk() {
  local avail
  avail=$(df -B1G --output=avail "$dir" 2>/dev/null | tail -1 | tr -d ' ')
  [[ "$avail" =~ ^[0-9]+$ ]] || return 0
  if ((avail - 8 < disk_gib)); then
    disk_gib=$((avail - 8 > 8 ? avail - 8 : 8))
    log "the OSD's block file is ${disk_gib} GiB: the disk has ${avail} GiB free"
  fi
}

diagnose() {
  local d f
  echo "== free disk"
  df -h "$dir" /tmp 2>&1 || true
  echo "== daemons"
  for d in "${daemons[@]}"; do
    if alive "$d"; then echo "$d: running, pid $(pid_of "$d")"; else echo "$d: not running"; fi
  done
  if [ -f "$conf" ]; then
    echo "== ceph -s"
    timeout 30 ceph -c "$conf" --connect-timeout 10 -s 2>&1 || true
    echo "== ceph df"
    timeout 30 ceph -c "$conf" --connect-timeout 10 df 2>&1 || true
  fi
  for f in "$dir"/log/*; do
    [ -f "$f" ] || continue
    echo "== the end of $f"
    tail -n 20 "$f"
  done
}

install_packages() {
  local missing=() p
  for p in ceph-mon ceph-osd radosgw ceph-common; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    { apt-get -o DPkg::Lock::Timeout=600 update -qq &&
      apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
}

write_conf() {
  local fsid=$1
  cat >"$conf" <<EOF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:3300,v1:127.0.0.1:6789]
mon initial members = a
public network = 127.0.0.0/8
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = true
# Without authentication the messengers must prefer crc to secure mode (which needs cephx keys),
# or the gateway cannot reach the monitor.
ms mon client mode = crc secure
ms client mode = crc secure
ms mon service mode = crc secure
ms service mode = crc secure
ms cluster mode = crc secure
keyring = $dir/keyring
run dir = $dir/run
admin socket = $dir/run/\$name.asok
pid file = $dir/run/\$name.pid
log file = $dir/log/\$name.log
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
[mon]
mon data = $dir/mon/\$cluster-\$id
# A shared build machine's disk is often over 95% full; the monitor would refuse to start
# (its default critical level is 5% free). Tests hold little data, so only warn at 1%.
mon data avail crit = 0
mon data avail warn = 1
[osd]
osd data = $dir/osd/\$cluster-\$id
osd objectstore = bluestore
# The block device is a sparse file: it takes disk space only as data is written.
bluestore block create = true
bluestore block size = $((disk_gib * 1024 * 1024 * 1024))
bluestore fsck on mkfs = false
osd memory target = 1610612736
osd max object name len = 460
osd max object namespace len = 64
[client.rgw]
rgw data = $dir/rgw
rgw frontends = beast endpoint=127.0.0.1:$port
rgw dns name = localhost
# Deleted and aborted data is collected within a minute, not hours.
rgw gc obj min wait = 30
rgw gc processor period = 30
EOF
}

start_mon() { alive mon.a || ceph-mon -c "$conf" -i a; }

start_osd() {
  alive osd.0 || ceph-osd -c "$conf" -i 0 2>>"$dir/log/osd-start.err"
  wait_for 60 "the OSD" osd_up
}

start_rgw() {
  alive client.rgw && gateway_answers && return 0
  stop_daemon client.rgw
  # radosgw forks once it has reached the cluster; a bound on that wait keeps a cluster that
  # cannot be reached from hanging the script.
  timeout 120 radosgw -c "$conf" -n client.rgw
  wait_for 60 "the gateway on $endpoint" gateway_answers
}

# A new cluster from nothing: monitor, OSD, gateway, test user.
create_cluster() {
  rm -rf "$dir"
  mkdir -p "$dir"/{run,log,mon/ceph-a,osd/ceph-0,rgw}
  local fsid osd_uuid id
  fit_block_to_disk
  fsid=$(cat /proc/sys/kernel/random/uuid)
  write_conf "$fsid"
  ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$dir/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' \
    --cap mgr 'allow *' >/dev/null
  monmaptool --create --fsid "$fsid" --addv a '[v2:127.0.0.1:3300,v1:127.0.0.1:6789]' \
    "$dir/monmap" >/dev/null
  ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring"
  start_mon
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  id=$(ceph -c "$conf" osd new "$osd_uuid")
  [ "$id" = 0 ] || { log "unexpected OSD id $id"; return 1; }
  ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >"$dir/log/osd-mkfs.out" 2>&1
  start_osd
  start_rgw
  radosgw-admin -c "$conf" user create --uid=baton-test --display-name="baton tests" \
    --access-key="$access_key" --secret="$secret_key" >/dev/null
  touch "$dir/created"  # the cluster is whole: a later start may reuse it
}

running() { alive mon.a && alive osd.0; }
stop_all() { for d in "${daemons[@]}"; do stop_daemon "$d"; done; }

case "${1:-}" in
  --stop)
    stop_all
    exit 0
    ;;
  --wipe)
    stop_all
    rm -rf "$dir"
    exit 0
    ;;
  --stop-rgw)
    running || { log "no cluster started by this script is running"; exit 3; }
    stop_daemon client.rgw
    exit 0
    ;;
  --start-rgw | --restart-rgw)
    running || { log "no cluster started by this script is running"; exit 3; }
    [ "$1" = --restart-rgw ] && stop_daemon client.rgw
    start_rgw
    print_env
    exit 0
    ;;
  --diagnose)
    diagnose
    exit 0
    ;;
  --room)
    running || { log "no cluster started by this script is running"; exit 3; }
    osd_room
    exit 0
    ;;
  --env)
    running && gateway_answers || { log "no gateway is running on $endpoint"; exit 3; }
    print_env
    exit 0
    ;;
  "") ;;
  *)
    echo "usage: $0 [--stop | --wipe | --restart-rgw | --stop-rgw | --start-rgw | --env | --room | --diagnose]" >&2
    exit 1
    ;;
esac

[ "$(id -u)" -eq 0 ] || { log "run as root"; exit 1; }
install_packages
# A cluster made before is started again with its data, if it still has room for the tests: the
# 5 GiB round trip needs 11 GiB, and a full OSD does not fail writes, it holds them, so that every
# request to the gateway hangs. Tests leave their objects behind, so a cluster used for many
# runs fills up; it is then made again from nothing (it holds only test data).
reuse_cluster() {
  local room
  # The configuration is rewritten (same fsid), so that a cluster made by an older version of
  # this script starts with the current settings.
  write_conf "$(awk '$1 == "fsid" { print $3 }' "$conf")"
  start_mon || return 1
  start_osd || return 1
  room=$(osd_room) || room=0
  if ((room < min_room_gib << 30)); then
    log "the OSD has $((room >> 20)) MiB left before it is full, under ${min_room_gib} GiB"
    return 1
  fi
  start_rgw
}

if [ -f "$dir/created" ] && grep -q "osd objectstore = bluestore" "$conf" 2>/dev/null &&
  reuse_cluster; then
  :
else
  stop_all
  log "creating a cluster in $dir"
  create_cluster
fi
log "S3 endpoint $endpoint, access key $access_key (ceph $(ceph --version | awk '{print $3}'))"
print_env
