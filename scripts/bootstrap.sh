#!/usr/bin/env bash
# Installs what is missing (Debian 12 packages), builds baton, then:
#   scripts/bootstrap.sh quickstart   runs the quickstart pipeline on the default local stack
#   scripts/bootstrap.sh test         runs the whole test suite (release build, then ASan+UBSan, then TSan)
#   scripts/bootstrap.sh build        only builds
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-build}

packages=(build-essential cmake ninja-build pkg-config git
          libfyaml-dev nlohmann-json3-dev libsqlite3-dev libssl-dev libcli11-dev
          libpq-dev libcurl4-openssl-dev libcpp-httplib-dev curl
          libgtest-dev libgmock-dev libbenchmark-dev
          python3 python3-numpy python3-sklearn sqlite3 procps)
# What only the tests use: the shells whose completion scripts they load, Graphviz, which
# renders `baton dag -o dot`, and openssl, which makes the test Kubernetes API server's TLS material.
[ "$mode" = test ] && packages+=(zsh fish graphviz openssl)
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

jobs=$(nproc)
# A line with the time since the start, so that a CI log shows where its time went.
stage() { echo "bootstrap: [$((SECONDS / 60))m$((SECONDS % 60))s] $*"; }
build() {  # build DIR [cmake args...]; the libraries in batches (BATON_UNITY), a third of the time
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja -DBATON_UNITY=ON "$@" >/dev/null
  ninja -C "$dir" -j "$jobs"
}

# After failed tests: the state of the S3 test cluster (free disk, daemons, the end of their
# logs), then the failure.
stores_state() {
  $sudo scripts/setup-ceph-rgw.sh --diagnose || true
  exit 1
}

case "$mode" in
  build)
    build build/release -DCMAKE_BUILD_TYPE=Release
    ;;
  quickstart)
    build build/release -DCMAKE_BUILD_TYPE=Release -DBATON_BUILD_TESTS=OFF -DBATON_BUILD_BENCH=OFF
    build/release/baton run examples/quickstart/pipeline.yaml
    build/release/baton runs show last
    ;;
  test)
    # Real services the backend tests run against, set up while baton builds: podman, runc, the
    # base images and a registry (local_docker), and a Slurm cluster on loopback (slurm); beside
    # them, PostgreSQL 15 and a Ceph cluster with its S3 gateway (the team stores).
    services_log=$(mktemp)
    stores_log=$(mktemp)
    stores_env=$(mktemp)
    ($sudo scripts/setup-podman.sh --python --registry && $sudo scripts/setup-slurm.sh) >"$services_log" 2>&1 &
    services=$!
    ($sudo scripts/setup-postgres.sh && $sudo scripts/setup-ceph-rgw.sh >"$stores_env") >"$stores_log" 2>&1 &
    stores=$!
    # Chromium, Node.js and playwright-core for the dashboard's browser test.
    browser_log=$(mktemp)
    $sudo scripts/setup-browser.sh >"$browser_log" 2>&1 &
    browser=$!
    stage "building (Release)"
    build build/release -DCMAKE_BUILD_TYPE=Release -DBATON_WERROR=ON
    stage "built; waiting for the test services"
    failed=0
    wait "$services" || failed=1
    cat "$services_log"
    wait "$stores" || failed=1
    cat "$stores_log"
    wait "$browser" || failed=1
    cat "$browser_log"
    if ((failed)); then
      echo "bootstrap: setting up the test services failed" >&2
      exit 1
    fi
    # shellcheck disable=SC1090
    . "$stores_env"
    export BATON_TEST_POSTGRES_URI=postgresql://postgres@127.0.0.1:55432/baton_test
    # The AWS CLI (a test oracle for the S3 store) may live in the user's pyenv.
    for d in "$HOME/.pyenv/shims" /root/.pyenv/shims; do
      [ -d "$d" ] && PATH=$PATH:$d
    done
    export PATH
    df -h . /tmp
    # Each sanitizer build runs beside the tests before it, at the lowest CPU priority: the tests
    # mostly wait on processes, containers and Slurm, and the build takes the CPU they leave.
    asan_log=$(mktemp)
    (renice -n 19 -p "$BASHPID" >/dev/null
     build build/asan -DCMAKE_BUILD_TYPE=Debug -DBATON_SANITIZE=address,undefined -DBATON_BUILD_BENCH=OFF -DBATON_WERROR=ON) >"$asan_log" 2>&1 &
    asan_build=$!
    stage "the tests (Release)"
    (cd build/release && ctest --output-on-failure -j "$jobs") || stores_state
    stage "waiting for the ASan build"
    wait "$asan_build" || { tail -50 "$asan_log"; echo "bootstrap: the ASan build failed" >&2; exit 1; }
    stage "the tests again under AddressSanitizer + UndefinedBehaviorSanitizer"
    tsan_log=$(mktemp)
    (renice -n 19 -p "$BASHPID" >/dev/null
     build build/tsan -DCMAKE_BUILD_TYPE=Debug -DBATON_SANITIZE=thread -DBATON_BUILD_BENCH=OFF -DBATON_WERROR=ON) >"$tsan_log" 2>&1 &
    tsan_build=$!
    # Under the sanitizers, the tests whose time goes to other programs (Slurm, podman, the test
    # Kubernetes API server's pods, Chromium, a C++ compiler, scikit-learn) are left out where
    # shorter tests of the same backend run the same baton code: they ran above, in the Release
    # build. Left out: a one-minute Slurm time limit, the 100-job DAG, the quickstart on each
    # backend, matrix and for-each instances as jobs or containers, image pushes and rebuilds,
    # the 200-pod DAG and resume on the test API server, its kubectl self-test (no baton code),
    # the 5 GiB S3 round trip, the dashboard in Chromium, the C++ example built against the
    # installed package, the quickstart's scikit-learn sweep, and the layering check (a script).
    skip=(
      'Slurm\.(ATimeLimitBreachIsATimeout|AHundredStepDag|QuickstartRunsOnTheCluster|MatrixAndForEachInstancesAreJobsOfTheirOwn)'
      'LocalDocker\.(QuickstartRunsInContainersLikeLocally|MatrixAndForEachInstancesRunInContainersOfTheirOwn|PushesToARegistryAndPullsByDigest|SecondBuildIsANoOpAndACodeChangeBuildsANewImage)'
      'Kubernetes\.(ATwoHundredStepDagKeepsToMaxParallelism|QuickstartRunsAsJobsLikeLocally|ResumeSubmitsOnlyTheStepsThatDidNotComplete)'
      'kube_fake_selftest' 'S3Slow\..*'
      'Dashboard\.PagesFollowARunningPipelineInChromium' 'CppApi\.ExampleBuildsAgainstTheInstalledPackage'
      'Sweep\.TheQuickstartSweepDeploysTheBestModelOnlyAboveTheThreshold' 'layering_check.*')
    slow="^($(IFS='|'; echo "${skip[*]}"))\$"
    (cd build/asan && ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$PWD/../../tests/lsan.supp UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
       ctest --output-on-failure -j "$jobs" -E "$slow") || stores_state
    stage "waiting for the TSan build"
    wait "$tsan_build" || { tail -50 "$tsan_log"; echo "bootstrap: the TSan build failed" >&2; exit 1; }
    stage "the tests again under ThreadSanitizer"
    (cd build/tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/../../tests/tsan.supp ctest --output-on-failure -j "$jobs" -E "$slow") || stores_state
    stage "done"
    ;;
  *)
    echo "usage: scripts/bootstrap.sh [build|quickstart|test]" >&2
    exit 2
    ;;
esac
