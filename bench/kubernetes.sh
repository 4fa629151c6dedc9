#!/usr/bin/env bash
# baton's kubernetes orchestrator against plain kubectl on the same API server (the test server
# tests/kube_fake/kube_fake.py, whose pods are podman containers), side by side:
#   chain20   20 no-op steps, each after the one before
# "kubectl" creates the same Jobs (busybox running `true`, the same image baton's steps start
# from) one after another, each once `kubectl wait --for=condition=complete` says the one before
# completed. The difference is what baton adds per step: its entrypoint in the pod (the step's
# records in PostgreSQL), its watches, the run's records. Also printed: the API requests baton
# sends per step (the test server counts them).
#
# Needs podman (scripts/setup-podman.sh), PostgreSQL and the S3 gateway
# (scripts/setup-postgres.sh, scripts/setup-ceph-rgw.sh, which prints the BATON_TEST_S3_*
# variables to export), openssl, kubectl (the Google Cloud CLI's kubectl.1.33) and hyperfine.
#
# Usage: bench/kubernetes.sh [BATON_BINARY]   (RUNS=3 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
baton=$(realpath "${1:-build/release/baton}")
runs=${RUNS:-3}
kubectl=${KUBECTL:-/usr/lib/google-cloud-sdk/bin/kubectl.1.33}
. bench/need.sh
need hyperfine openssl
: "${BATON_TEST_POSTGRES_URI:=postgresql://postgres@127.0.0.1:55432/baton_test}"
for v in BATON_TEST_S3_ENDPOINT BATON_TEST_S3_ACCESS_KEY BATON_TEST_S3_SECRET_KEY; do
  [ -n "${!v:-}" ] || { echo "set $v (scripts/setup-ceph-rgw.sh prints it)" >&2; exit 1; }
done
[ -x "$kubectl" ] || { echo "no $kubectl (set KUBECTL)" >&2; exit 1; }

work=$(mktemp -d /tmp/baton-bench-kube.XXXXXX)
fake=""
trap '[ -n "$fake" ] && kill "$fake" 2>/dev/null && wait "$fake" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=bench-ca 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=kube-fake 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' > server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile server.ext 2>/dev/null
token=$(openssl rand -hex 16)
/usr/bin/python3 "$src/tests/kube_fake/kube_fake.py" --port-file port --state-dir state --token "$token" \
  --tls-cert server.crt --tls-key server.key --node-cpu 64 > fake.log 2>&1 &
fake=$!
for _ in $(seq 100); do [ -s port ] && break; sleep 0.1; done
port=$(cat port)
cat > kubeconfig <<EOF
apiVersion: v1
current-context: fake
clusters: [{name: fake, cluster: {server: "https://127.0.0.1:$port", certificate-authority: $work/ca.crt}}]
contexts: [{name: fake, context: {cluster: fake, user: bench, namespace: default}}]
users: [{name: bench, user: {token: $token}}]
EOF
export KUBECONFIG=$work/kubeconfig TEAM_S3_KEY=$BATON_TEST_S3_ACCESS_KEY TEAM_S3_SECRET=$BATON_TEST_S3_SECRET_KEY
api() { curl -sS --cacert ca.crt -H "Authorization: Bearer $token" -X "$1" "https://127.0.0.1:$port$2"; }

tag=$RANDOM$RANDOM
AWS_ACCESS_KEY_ID=$TEAM_S3_KEY AWS_SECRET_ACCESS_KEY=$TEAM_S3_SECRET AWS_DEFAULT_REGION=us-east-1 \
  aws --endpoint-url "$BATON_TEST_S3_ENDPOINT" s3api create-bucket --bucket "bench-kube-$tag" >/dev/null
"$baton" init >/dev/null
"$baton" store set "$BATON_TEST_POSTGRES_URI?schema=bench_kube_$tag" >/dev/null
"$baton" artifact-store register s3 --flavor s3 --set "bucket=bench-kube-$tag" --set "endpoint=$BATON_TEST_S3_ENDPOINT" \
  --set 'access_key_id={{env.TEAM_S3_KEY}}' --set 'secret_access_key={{env.TEAM_S3_SECRET}}' >/dev/null
"$baton" orchestrator register kube --flavor kubernetes --set "kubeconfig=$work/kubeconfig" \
  --set parent_image=localhost/baton-base:busybox --set pass_env=TEAM_S3_KEY,TEAM_S3_SECRET >/dev/null
"$baton" stack register kube --orchestrator kube --artifact-store s3 >/dev/null
{ echo "name: chain20"; echo "steps:"; echo "  s0: {run: \"true\"}"
  for i in $(seq 1 19); do echo "  s$i: {run: \"true\", after: [s$((i - 1))]}"; done; } > chain20.yaml
"$baton" build chain20.yaml --stack kube >/dev/null

cat > kubectl-chain.sh <<EOF
#!/usr/bin/env bash
# 20 Jobs, each created once the one before completed.
set -euo pipefail
run=\$RANDOM\$RANDOM
for i in \$(seq 0 19); do
  cat <<JOB | "$kubectl" create -f - >/dev/null
{"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "plain-\$run-\$i", "labels": {"bench": "plain"}},
 "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
   "containers": [{"name": "c", "image": "localhost/baton-base:busybox", "command": ["true"]}]}}}}
JOB
  "$kubectl" wait --for=condition=complete --timeout=120s "job/plain-\$run-\$i" >/dev/null
done
"$kubectl" delete jobs -l bench=plain --cascade=background >/dev/null
EOF
chmod +x kubectl-chain.sh

api POST /_fake/stats/reset >/dev/null
"$baton" run chain20.yaml --stack kube --no-cache -q
requests=$(api GET /_fake/stats | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["requests_total"])')

hyperfine --runs "$runs" --warmup 1 --export-json results.json \
  -n "baton chain20" "'$baton' run chain20.yaml --stack kube --no-cache -q" \
  -n "kubectl chain20" "./kubectl-chain.sh"
api GET /_fake/timeline > timeline.json

echo
/usr/bin/python3 - results.json "$requests" timeline.json <<'EOF'
import collections, json, statistics, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
b, k = r["baton chain20"], r["kubectl chain20"]
print(f"chain20: baton {b:.2f} s, kubectl {k:.2f} s, baton/kubectl {b / k:.2f}x, "
      f"baton - kubectl {1000 * (b - k) / 20:+.0f} ms per step")
print(f"API requests of one baton run (20 steps, the watches and the run's ConfigMap and Secret included): "
      f"{sys.argv[2]}, {int(sys.argv[2]) / 20:.1f} per step")

# Where a step's time goes, from the test server's own clock (to the microsecond): its pod start
# (Job created -> container running: job controller, scheduler, podman), the container's run
# (for baton: the entrypoint, its records and `true`; for kubectl: `true`), and the reaction of
# the client (the end published -> the next Job created: for baton its watch, the step's record
# and the next Job; for kubectl, `kubectl wait` and `kubectl create`).
jobs = collections.defaultdict(dict)
for e in json.load(open(sys.argv[3]))["events"]:
    j = jobs[e["job"]]
    if e["event"] == "job-created":
        j["created"] = e["time"]
        j["run"] = e.get("labels", {}).get("baton.dev/run") or "plain-" + e["job"].rsplit("-", 1)[0]
    elif e["event"] == "container-started" and e["container"] in ("step", "c"):
        j["started"] = e["time"]
    elif e["event"] == "container-ended" and e["container"] in ("step", "c"):
        j["ended"] = e["time"]
runs = collections.defaultdict(list)
for name, j in jobs.items():
    if {"created", "started", "ended"} <= j.keys():
        runs[j["run"]].append(j)
parts = {who: collections.defaultdict(list) for who in ("baton", "kubectl")}
for run, js in runs.items():
    who = "kubectl" if run.startswith("plain-") else "baton"
    js.sort(key=lambda j: j["created"])
    for a, nxt in zip(js, js[1:] + [None]):
        parts[who]["pod start"].append(a["started"] - a["created"])
        parts[who]["container"].append(a["ended"] - a["started"])
        if nxt:
            parts[who]["reaction"].append(nxt["created"] - a["ended"])
med = {who: {k: 1000 * statistics.median(v) for k, v in p.items() if v} for who, p in parts.items()}
for who in ("baton", "kubectl"):
    m = med[who]
    if m:
        print(f"{who:8} per step, medians: pod start {m['pod start']:.0f} ms, container {m['container']:.0f} ms, "
              f"reaction {m.get('reaction', 0):.0f} ms")
if med["baton"] and med["kubectl"]:
    added = med["baton"]["reaction"] + med["baton"]["container"] - med["kubectl"]["container"]
    print(f"baton's own time per step beyond the pod start and `true`: {added:.0f} ms "
          f"(its reaction {med['baton']['reaction']:.0f} ms + its entrypoint in the container "
          f"{med['baton']['container'] - med['kubectl']['container']:.0f} ms)")
EOF
