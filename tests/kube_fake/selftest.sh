#!/usr/bin/env bash
# Starts kube_fake.py with TLS, a bearer token and a client CA, then checks it
# with real kubectl binaries (1.33 and 1.27 by default) and with curl.
# Usage: bash tests/kube_fake/selftest.sh   (exit 0 only when every check passed)
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
KUBECTL_DIR=${KUBECTL_DIR:-/usr/lib/google-cloud-sdk/bin}
VERSIONS=${KUBECTL_VERSIONS:-"1.33 1.27"}
SWAGGER=${SWAGGER:-$HERE/../../../shared/schemas/k8s/swagger.json}
PYTHON=${PYTHON:-/usr/bin/python3}
BUSYBOX=localhost/baton-base:busybox
PYIMAGE=localhost/baton-python:bookworm

# Without the clients it is held to, or podman, there is nothing to check: skipped (77), except
# under CI, where they must be there.
for V in $VERSIONS; do
    if [ ! -x "$KUBECTL_DIR/kubectl.$V" ] || ! command -v podman >/dev/null; then
        echo "kubectl.$V or podman is missing"
        [ -n "${CI:-}" ] && exit 1
        exit 77
    fi
done

TMP=$(mktemp -d /tmp/kube-fake-selftest.XXXXXX)
SERVER_PID=""
FAILED=()
BG_PIDS=()

cleanup() {
    for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    if [ -n "$SERVER_PID" ]; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

pass() { echo "ok    $1"; }
fail() { echo "FAIL  $1"; FAILED+=("$1"); [ $# -gt 1 ] && printf '%s\n' "$2" | sed 's/^/      | /' | head -20; }
check() { # check NAME COMMAND... : passes when the command exits 0
    local name=$1; shift
    local out
    if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$out"; fi
}

# ---------------------------------------------------------------- TLS material
cd "$TMP"
{
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj "/CN=kube-fake-ca"
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=kube-fake"
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 \
        -extfile server.ext
    openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj "/CN=selftest-user"
    openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 2
} > openssl.log 2>&1 || { cat openssl.log; echo "FAIL  openssl"; exit 1; }
TOKEN=$(openssl rand -hex 16)

# ---------------------------------------------------------------- server
EXTRA=()
[ -r "$SWAGGER" ] && EXTRA+=(--swagger "$SWAGGER")
"$PYTHON" "$HERE/kube_fake.py" --port-file "$TMP/port" --state-dir "$TMP/state" --token "$TOKEN" \
    --tls-cert server.crt --tls-key server.key --client-ca ca.crt "${EXTRA[@]}" > server.log 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do [ -s "$TMP/port" ] && break; sleep 0.1; done
if [ ! -s "$TMP/port" ]; then echo "FAIL  server did not start"; cat server.log; exit 1; fi
PORT=$(cat "$TMP/port")
URL="https://127.0.0.1:$PORT"
pass "server listens on port $PORT"

cat > kubeconfig <<EOF
apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster: {server: "$URL", certificate-authority: "$TMP/ca.crt"}
users:
- name: tester
  user: {token: "$TOKEN"}
- name: certuser
  user: {client-certificate: "$TMP/client.crt", client-key: "$TMP/client.key"}
contexts:
- name: fake
  context: {cluster: fake, user: tester, namespace: default}
- name: cert
  context: {cluster: fake, user: certuser, namespace: default}
current-context: fake
EOF
export KUBECONFIG="$TMP/kubeconfig"

CURL=(curl -sS --cacert "$TMP/ca.crt" -H "Authorization: Bearer $TOKEN")

# ---------------------------------------------------------------- curl checks
code=$(curl -sS --cacert ca.crt -o /dev/null -w '%{http_code}' "$URL/api/v1/namespaces/default/pods")
[ "$code" = 401 ] && pass "no credentials: 401" || fail "no credentials: 401" "got $code"
code=$(curl -sS --cacert ca.crt -H "Authorization: Bearer wrong" -o /dev/null -w '%{http_code}' "$URL/_fake/stats")
[ "$code" = 401 ] && pass "wrong token on /_fake: 401" || fail "wrong token on /_fake: 401" "got $code"
code=$(curl -sS --cacert ca.crt --cert client.crt --key client.key -o /dev/null -w '%{http_code}' "$URL/api/v1/nodes")
[ "$code" = 200 ] && pass "client certificate accepted" || fail "client certificate accepted" "got $code"
out=$("${CURL[@]}" "$URL/api/v1/namespaces/nope/configmaps" -X POST -H 'Content-Type: application/json' \
    -d '{"metadata":{"name":"x"}}')
echo "$out" | grep -q '"reason":"NotFound"' && echo "$out" | grep -q 'namespaces \\"nope\\" not found' \
    && pass "create in a missing namespace: NotFound" || fail "create in a missing namespace: NotFound" "$out"

# ---------------------------------------------------------------- helpers
job_yaml() { # job_yaml NAME IMAGE SCRIPT [EXTRA_SPEC_YAML] [EXTRA_CONTAINER_YAML]
    cat <<EOF
apiVersion: batch/v1
kind: Job
metadata:
  name: $1
spec:
  backoffLimit: 0
${4:-}
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 2
      containers:
      - name: main
        image: $2
        command: ["sh", "-c", "$3"]
${5:-}
EOF
}

json_check() { # json_check PYTHON_EXPR  (reads JSON from stdin as d)
    "$PYTHON" -c "import json,sys; d=json.load(sys.stdin); sys.exit(0 if ($1) else 1)"
}

for V in $VERSIONS; do
    K="$KUBECTL_DIR/kubectl.$V"
    T=$(echo "$V" | tr -d .)
    if [ ! -x "$K" ]; then fail "kubectl $V: binary $K missing"; continue; fi
    echo "--- kubectl $V"

    out=$("$K" version 2>&1)
    echo "$out" | grep -q 'v1.30.0' && pass "[$V] kubectl version" || fail "[$V] kubectl version" "$out"

    out=$("$K" --context cert get nodes 2>&1)
    echo "$out" | grep -q 'fake-node' && pass "[$V] client certificate user" || fail "[$V] client certificate user" "$out"

    J=hello-$T
    job_yaml "$J" "$BUSYBOX" "for i in 1 2 3; do echo line \$i; done" > "$J.yaml"
    check "[$V] create -f job" "$K" create -f "$J.yaml"
    check "[$V] wait --for=condition=complete" "$K" wait --for=condition=complete "job/$J" --timeout=60s
    out=$("$K" logs "job/$J" 2>&1)
    [ "$(echo "$out" | grep -c '^line [123]$')" = 3 ] && pass "[$V] logs job/X" || fail "[$V] logs job/X" "$out"
    out=$("$K" get pods -l "job-name=$J" -o json 2>&1)
    echo "$out" | json_check "len(d['items'])==1 and d['items'][0]['status']['phase']=='Succeeded' and d['items'][0]['status']['containerStatuses'][0]['state']['terminated']['reason']=='Completed'" \
        && pass "[$V] get pods -l job-name=X -o json" || fail "[$V] get pods -l job-name=X -o json" "$out"
    out=$("$K" get jobs 2>&1)
    echo "$out" | grep -q '^NAME ' && echo "$out" | grep -E "^$J +.*1/1" -q \
        && pass "[$V] get jobs (table)" || fail "[$V] get jobs (table)" "$out"

    if [ -r "$SWAGGER" ]; then
        job_yaml "bad-$T" "$BUSYBOX" "true" "" "        foo: bar" > "bad-$T.yaml"
        out=$("$K" create -f "bad-$T.yaml" 2>&1)
        echo "$out" | grep -q 'unknown field "spec.template.spec.containers\[0\].foo"' \
            && pass "[$V] strict field validation" || fail "[$V] strict field validation" "$out"
    fi

    # watch, follow and foreground deletion on a job that runs for a few seconds
    W=slow-$T
    "$K" get pods -w > "watch-$T.out" 2>&1 &
    WPID=$!
    BG_PIDS+=("$WPID")
    sleep 1
    job_yaml "$W" "$BUSYBOX" "for i in 1 2 3 4 5 6; do echo tick \$i; sleep 0.5; done" > "$W.yaml"
    check "[$V] create slow job" "$K" create -f "$W.yaml"
    POD=""
    for _ in $(seq 1 100); do
        POD=$("$K" get pods -l "job-name=$W" -o jsonpath='{.items[0].metadata.name}' 2>/dev/null)
        [ -n "$POD" ] && break
        sleep 0.1
    done
    check "[$V] wait for the pod to be ready" "$K" wait --for=condition=Ready "pod/$POD" --timeout=60s
    out=$(timeout 30 "$K" logs -f "$POD" 2>&1); rc=$?
    [ $rc = 0 ] && [ "$(echo "$out" | grep -c '^tick')" = 6 ] && pass "[$V] logs -f ends with the container" \
        || fail "[$V] logs -f ends with the container" "rc=$rc $out"
    check "[$V] slow job completes" "$K" wait --for=condition=complete "job/$W" --timeout=60s
    sleep 1
    kill "$WPID" 2>/dev/null; wait "$WPID" 2>/dev/null
    n=$(grep -c "^$POD " "watch-$T.out")
    grep -q "^$POD .*Running" "watch-$T.out" && grep -q "^$POD .*Completed" "watch-$T.out" && [ "$n" -ge 3 ] \
        && pass "[$V] get pods -w prints changes" || fail "[$V] get pods -w prints changes" "$(cat "watch-$T.out")"
    check "[$V] delete --cascade=foreground" "$K" delete job "$W" --cascade=foreground
    out=$("$K" get pods -l "job-name=$W" -o name 2>&1)
    [ -z "$out" ] && pass "[$V] pods gone after foreground delete" || fail "[$V] pods gone after foreground delete" "$out"

    # out of memory
    O=oom-$T
    job_yaml "$O" "$PYIMAGE" "python3 -c 'b=bytearray(512*1024*1024)'" "" \
        "        resources: {limits: {memory: 32Mi}}" > "$O.yaml"
    check "[$V] create oom job" "$K" create -f "$O.yaml"
    check "[$V] oom job fails" "$K" wait --for=condition=failed "job/$O" --timeout=60s
    out=$("$K" get pods -l "job-name=$O" -o jsonpath='{.items[0].status.containerStatuses[0].state.terminated.reason}' 2>&1)
    [ "$out" = OOMKilled ] && pass "[$V] container terminated with OOMKilled" || fail "[$V] container terminated with OOMKilled" "$out"

    # active deadline
    D=deadline-$T
    job_yaml "$D" "$BUSYBOX" "sleep 60" "  activeDeadlineSeconds: 2" > "$D.yaml"
    check "[$V] create deadline job" "$K" create -f "$D.yaml"
    check "[$V] deadline job fails" "$K" wait --for=condition=failed "job/$D" --timeout=60s
    out=$("$K" get job "$D" -o jsonpath='{.status.conditions[?(@.type=="Failed")].reason}' 2>&1)
    [ "$out" = DeadlineExceeded ] && pass "[$V] Failed reason DeadlineExceeded" || fail "[$V] Failed reason DeadlineExceeded" "$out"

    "$K" delete jobs --all --cascade=background --wait=false > /dev/null 2>&1
done

# ---------------------------------------------------------------- REST semantics
echo "--- REST checks (api_checks.py)"
STRICT=()
[ -r "$SWAGGER" ] && STRICT=(--strict)
"$PYTHON" "$HERE/api_checks.py" --url "$URL" --token "$TOKEN" --cacert "$TMP/ca.crt" "${STRICT[@]}" \
    > api.out 2>&1
rc=$?
while IFS= read -r line; do
    echo "$line"
    case "$line" in "FAIL  "*) FAILED+=("${line#FAIL  }") ;; esac
done < api.out
[ $rc = 0 ] || grep -q '^FAIL' api.out || fail "api_checks.py exited with $rc"

# ---------------------------------------------------------------- stats and shutdown
out=$("${CURL[@]}" "$URL/_fake/stats")
echo "$out" | json_check "d['requests_total'] > 0 and d['max_running_pods'] >= 1 and 'POST jobs' in d['requests']" \
    && pass "/_fake/stats" || fail "/_fake/stats" "$out"

SPID=$SERVER_PID
kill -TERM "$SERVER_PID"
wait "$SERVER_PID"; rc=$?
SERVER_PID=""
[ $rc = 0 ] && pass "SIGTERM: exit 0" || fail "SIGTERM: exit 0" "exit $rc; $(tail -20 server.log)"
left=$(podman ps -aq --filter "label=baton-fake=$SPID")
[ -z "$left" ] && pass "no containers left behind" || fail "no containers left behind" "$left"

echo
if [ ${#FAILED[@]} -eq 0 ]; then
    echo "selftest: all checks passed"
    exit 0
fi
echo "selftest: ${#FAILED[@]} check(s) failed:"
printf '  %s\n' "${FAILED[@]}"
exit 1
