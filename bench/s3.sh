#!/usr/bin/env bash
# Throughput of the s3:// artifact store against the AWS CLI (`aws s3 cp`) and s3cmd, on the same
# S3 server: one 1 GiB artifact and 10,000 small ones, each uploaded and downloaded. hyperfine
# times every command; the table gives medians and MB/s (10^6 bytes a second).
#
#   eval "$(scripts/setup-ceph-rgw.sh)"   # the server and BATON_TEST_S3_* for it
#   bench/s3.sh
#
# baton runs through bench/s3_bench.cc, built here against a release build of the store
# (BATON_BENCH_BUILD, default build/s3-release, configured if missing). What each side does:
#   upload    baton: Put (SHA-256 on the way; multipart to a temporary key, then a server-side
#             copy to the content address); aws: `aws s3 cp`; s3cmd: `s3cmd put`
#   download  baton: Get into an emptied read cache (ranged GETs, SHA-256 checked before the
#             object enters the cache); aws: `aws s3 cp` to a new file; s3cmd: `s3cmd get`
#   small     baton: THREADS store instances side by side (as parallel steps would); aws: one
#             recursive `aws s3 cp` (10 requests at once, its default); s3cmd: `--recursive`
#             (one request at a time)
# Between baton uploads the stored objects are deleted, so that every run uploads and copies.
#
# Environment: BATON_TEST_S3_ENDPOINT, BATON_TEST_S3_ACCESS_KEY, BATON_TEST_S3_SECRET_KEY
# (required); BENCH_DIR (/tmp/baton-s3-bench), RUNS (5), RUNS_SMALL (3), SMALL_COUNT (10000),
# SMALL_SIZE (4096 bytes), THREADS (10), S3CMD (1: include s3cmd when installed),
# RUNS_S3CMD_SMALL (2).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/need.sh"
need hyperfine
[ "${S3CMD:-1}" = 1 ] && need s3cmd
: "${BATON_TEST_S3_ENDPOINT:?set it (eval \"\$(scripts/setup-ceph-rgw.sh)\")}"
: "${BATON_TEST_S3_ACCESS_KEY:?}" "${BATON_TEST_S3_SECRET_KEY:?}"
work=${BENCH_DIR:-/tmp/baton-s3-bench}
runs=${RUNS:-5}
runs_small=${RUNS_SMALL:-3}
small_count=${SMALL_COUNT:-10000}
small_size=${SMALL_SIZE:-4096}
threads=${THREADS:-10}
build=${BATON_BENCH_BUILD:-$root/build/s3-release}
endpoint=$BATON_TEST_S3_ENDPOINT
bucket=baton-bench
export AWS_ACCESS_KEY_ID=$BATON_TEST_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$BATON_TEST_S3_SECRET_KEY
export AWS_DEFAULT_REGION=us-east-1
aws=(aws --endpoint-url "$endpoint")
use_s3cmd=0
[ "${S3CMD:-1}" = 1 ] && command -v s3cmd >/dev/null && use_s3cmd=1

log() { echo "bench/s3: $*" >&2; }

# ---- the driver, against a release build of the store ----
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBATON_BUILD_TESTS=OFF \
    -DBATON_BUILD_BENCH=OFF >/dev/null
fi
ninja -C "$build" baton_store baton_platform baton_base >/dev/null
mkdir -p "$work"
driver=$work/s3_bench
g++ -std=c++20 -O2 -I "$root/include" -I "$build/layers/baton_store" "$root/bench/s3_bench.cc" -o "$driver" \
  "$build/libbaton_store.a" "$build/libbaton_platform.a" "$build/libbaton_base.a" \
  -lcurl -lcrypto -lsqlite3 -lpq -lpthread

# ---- data ----
if [ ! -s "$work/big" ]; then
  log "writing 1 GiB of random bytes"
  head -c 1G /dev/urandom >"$work/big"
fi
if [ ! -d "$work/small" ] || [ "$(find "$work/small" -type f | wc -l)" != "$small_count" ]; then
  log "writing $small_count files of $small_size bytes"
  rm -rf "$work/small" && mkdir -p "$work/small"
  head -c $((small_count * small_size)) /dev/urandom | split -a 5 -d -b "$small_size" - "$work/small/f"
fi
echo "$work/big" >"$work/big.list"
find "$work/small" -type f | sort >"$work/small.list"
"${aws[@]}" s3 mb "s3://$bucket" >/dev/null 2>&1 || true

uri() {  # uri PREFIX: the store for one side of the benchmark
  echo "s3://$bucket/$1?endpoint=$endpoint&access_key_env=BATON_TEST_S3_ACCESS_KEY&secret_key_env=BATON_TEST_S3_SECRET_KEY&cache=$work/cache"
}
empty_prefix() { echo "${aws[*]} s3 rm --recursive --quiet s3://$bucket/$1/"; }

s3cmd_conf=$work/s3cmd.cfg
host=${endpoint#*://}
cat >"$s3cmd_conf" <<EOF
[default]
access_key = $BATON_TEST_S3_ACCESS_KEY
secret_key = $BATON_TEST_S3_SECRET_KEY
host_base = $host
host_bucket = $host
use_https = False
signature_v2 = False
bucket_location = us-east-1
EOF
s3cmd=(s3cmd -c "$s3cmd_conf" --no-progress --quiet)

# The stored objects, for the downloads (and a first upload of each, not timed).
"$driver" put "$(uri big)" 1 "$work/big.list" >"$work/big.digests"
"$driver" put "$(uri small)" "$threads" "$work/small.list" >"$work/small.digests"
"${aws[@]}" s3 cp --quiet "$work/big" "s3://$bucket/aws-big/big"
"${aws[@]}" s3 cp --quiet --recursive "$work/small/" "s3://$bucket/aws-small/"
if [ $use_s3cmd = 1 ]; then
  "${s3cmd[@]}" put "$work/big" "s3://$bucket/s3cmd-big/big"
  "${s3cmd[@]}" put --recursive "$work/small/" "s3://$bucket/s3cmd-small/"
fi

json=$work/results
rm -rf "$json" && mkdir -p "$json"
bench() {  # bench NAME RUNS [hyperfine arguments...]
  local name=$1 n=$2
  shift 2
  log "$name"
  hyperfine --style basic --runs "$n" --export-json "$json/$name.json" "$@" >&2
}

# Each command with its own --prepare (hyperfine pairs them in order); ':' prepares nothing.
up_big=(-n baton --prepare "$(empty_prefix big-put)" "$driver put '$(uri big-put)' 1 $work/big.list"
  -n aws --prepare : "${aws[*]} s3 cp --quiet $work/big s3://$bucket/aws-big/big")
down_big=(-n baton --prepare "rm -rf $work/cache" "$driver get '$(uri big)' 1 $work/big.digests"
  -n aws --prepare "rm -f $work/out-big" "${aws[*]} s3 cp --quiet s3://$bucket/aws-big/big $work/out-big")
up_small=(-n baton "$driver put '$(uri small)' $threads $work/small.list"
  -n aws "${aws[*]} s3 cp --quiet --recursive $work/small/ s3://$bucket/aws-small/")
down_small=(-n baton --prepare "rm -rf $work/cache" "$driver get '$(uri small)' $threads $work/small.digests"
  -n aws --prepare "rm -rf $work/out-small" "${aws[*]} s3 cp --quiet --recursive s3://$bucket/aws-small/ $work/out-small/")
if [ $use_s3cmd = 1 ]; then
  up_big+=(-n s3cmd --prepare : "${s3cmd[*]} put $work/big s3://$bucket/s3cmd-big/big")
  down_big+=(-n s3cmd --prepare "rm -f $work/out-big" "${s3cmd[*]} get s3://$bucket/s3cmd-big/big $work/out-big")
fi
bench upload-1GiB "$runs" "${up_big[@]}"
bench download-1GiB "$runs" "${down_big[@]}"
bench upload-small "$runs_small" "${up_small[@]}"
bench download-small "$runs_small" "${down_small[@]}"
if [ $use_s3cmd = 1 ]; then  # one request at a time: minutes a run
  bench upload-small-s3cmd "${RUNS_S3CMD_SMALL:-2}" -n s3cmd \
    "${s3cmd[*]} put --recursive $work/small/ s3://$bucket/s3cmd-small/"
  bench download-small-s3cmd "${RUNS_S3CMD_SMALL:-2}" -n s3cmd --prepare "rm -rf $work/out-small && mkdir $work/out-small" \
    "${s3cmd[*]} get --recursive s3://$bucket/s3cmd-small/ $work/out-small/"
fi

# ---- the table ----
echo "S3 artifact store benchmark: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "server: $endpoint ($(ceph --version 2>/dev/null | awk '{print "ceph " $3}' || echo unknown))"
echo "aws: $(aws --version 2>&1 | awk '{print $1}'), s3cmd: $([ $use_s3cmd = 1 ] && s3cmd --version | awk '{print $3}' || echo -)"
/usr/bin/python3 - "$json" "$((1 << 30))" "$((small_count * small_size))" "$small_count" <<'EOF'
import json, sys, os
d, big, small, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print(f"| benchmark | tool | median (s) | min (s) | MB/s | objects/s |")
print(f"|---|---|---|---|---|---|")
for name in ["upload-1GiB", "download-1GiB", "upload-small", "upload-small-s3cmd", "download-small",
             "download-small-s3cmd"]:
    if not os.path.exists(os.path.join(d, name + ".json")):
        continue
    size = big if "1GiB" in name else small
    objects = 1 if "1GiB" in name else count
    for r in json.load(open(os.path.join(d, name + ".json")))["results"]:
        m = r["median"]
        print(f"| {name.replace('-s3cmd', '')} | {r['command']} | {m:.2f} | {r['min']:.2f} | {size / m / 1e6:.0f} | {objects / m:.0f} |")
EOF
