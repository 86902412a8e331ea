#!/usr/bin/env bash
# Run third-party AMQP 0-9-1 client test suites against a broker.
#
#   scripts/conformance/run.sh [--suite all|amqplib|go|kombu] AMQP_URL
#   scripts/conformance/run.sh --compare RESULTS_A RESULTS_B     tests failing in B but not in A
#
# e.g.  scripts/conformance/run.sh amqp://guest:guest@127.0.0.1:5674   (a RabbitMQ node)
#       scripts/conformance/run.sh amqp://guest:guest@127.0.0.1:5673   (Warren)
#       scripts/conformance/run.sh --compare /tmp/warren-conformance/results/127.0.0.1_5674 \
#                                            /tmp/warren-conformance/results/127.0.0.1_5673
#
# Suites:
#   amqplib     amqplib 2.2.0 from the npm registry (its tarball ships test/*.test.js; they use
#               node's built-in test runner, not mocha) + claire 0.4.1 (its one test-only
#               dependency). The suite reads the broker from env URL only in channel_api.test.js;
#               callback_api.test.js and connect.test.js dial amqp://localhost(:5672) directly,
#               so the copy is patched to dial $URL (and amqp://[::1]:PORT for the IPv6 test).
#               Every test file runs in its own node process under an outer timeout
#               (AMQPLIB_FILE_TIMEOUT), with node-test-preload.js: a timeout on every test and
#               hook (node 20's --test-timeout would apply to the whole file and hide which test
#               hung) and an exit once the file's tests are done. Results come from
#               jsonl-reporter.mjs (streamed, so a killed file still shows what ran) through
#               amqplib_results.py.
#   go          amqp091-go from Debian (golang-github-rabbitmq-amqp091-go-dev, 1.5.0 in bookworm,
#               sources incl. *_test.go in /usr/share/gocode) built with Debian's golang-go and
#               golang-uber-goleak-dev, GOPATH mode, build tag `integration`, env AMQP_URL. The
#               test binary is compiled once and run once per test (-test.run '^Name$') under a
#               timeout, so a hang stalls only that test. The package's TestMain runs
#               goleak.VerifyTestMain, so with one test per run a goroutine leak is charged to the
#               test that caused it: reported as LEAK (counted as failed). Only the tests that
#               talk to a broker run (integration_test.go, connection_test.go); the package's
#               other tests drive an in-process mock server.
#   kombu       kombu 5.7.0's integration tests for py-amqp (t/integration/test_py_amqp.py from
#               its PyPI sdist: basic functionality, exchange types, TTL, priorities, message
#               ack/reject/requeue, failover), run by pytest in a venv of their own
#               ($WORK/kombu-venv: kombu 5.7.0, amqp 5.4.2, vine 5.1.0, pytest) against the
#               broker given by env RABBITMQ_HOST / RABBITMQ_5672_TCP. pytest-rerunfailures is
#               not installed, so the suite's `flaky` reruns are off: a test passes first time
#               or fails. Results from pytest's JUnit XML through kombu_results.py.
#
# Output: per-test lines and a closing "N passed, N failed, N skipped" line per suite; results
# in $OUT (default /tmp/warren-conformance/results/HOST_PORT): amqplib.tsv, go.tsv, kombu.tsv
# (suite, test, status, seconds) and the raw logs (amqplib/*.out, go/*.out, kombu/).
#
# Environment:
#   WORK=/tmp/warren-conformance   where packages are installed and sources copied
#   OUT=$WORK/results/HOST_PORT
#   AMQPLIB_TEST_TIMEOUT=10000     ms per amqplib test (upstream's npm script uses 1000)
#   AMQPLIB_FILE_TIMEOUT=300       s per amqplib test file (outer kill)
#   GO_TEST_TIMEOUT=60             s per Go test
#   GO_TESTS='regex'               only Go tests whose name matches (grep -E)
#   AMQPLIB_FILES='a b'            only these test files (e.g. 'channel_api.test.js')
#   GO_ANY_PRODUCT=1               lift amqp091-go's product == "RabbitMQ" guards (3 tests:
#                                  TestIntegrationRecoverNotImplemented, TestRabbitMQQueueTTLGet,
#                                  TestRabbitMQQueueNackMultipleRequeue). Without it they do nothing
#                                  on another product and leak the connection they opened (LEAK).
#   SKIP_INSTALL=1                 do not run apt-get/npm (reuse $WORK)
# Needs root (or sudo) for apt-get. Runs the tests under nice. Exit 1 when any test failed.
# A RabbitMQ node to compare with: scripts/conformance/rabbitmq.sh start (port 5674).
set -uo pipefail

WORK=${WORK:-/tmp/warren-conformance}
AMQPLIB_VERSION=2.2.0
CLAIRE_VERSION=0.4.1
AMQPLIB_TEST_TIMEOUT=${AMQPLIB_TEST_TIMEOUT:-10000}
AMQPLIB_FILE_TIMEOUT=${AMQPLIB_FILE_TIMEOUT:-300}
GO_TEST_TIMEOUT=${GO_TEST_TIMEOUT:-60}
GO_PKG=github.com/rabbitmq/amqp091-go
HERE=$(cd "$(dirname "$0")" && pwd)

die() { printf 'conformance: %s\n' "$*" >&2; exit 1; }
step() { printf '\n==> %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# ---------------------------------------------------------------------------------------------
# --compare A B

compare() {
  python3 - "$1" "$2" <<'EOF'
import csv, os, sys
a_dir, b_dir = sys.argv[1], sys.argv[2]
def load(d):
    r = {}
    for f in ("amqplib.tsv", "go.tsv", "kombu.tsv"):
        p = os.path.join(d, f)
        if not os.path.exists(p):
            continue
        with open(p) as fh:
            for row in csv.reader(fh, delimiter="\t"):
                if len(row) >= 3:
                    r[(row[0], row[1])] = row[2]
    return r
a, b = load(a_dir), load(b_dir)
bad = lambda s: s not in ("PASS", "SKIP")
only_b = sorted(k for k in b if bad(b[k]) and not bad(a.get(k, "MISSING")))
only_a = sorted(k for k in a if bad(a[k]) and not bad(b.get(k, "MISSING")))
both = sorted(k for k in b if bad(b[k]) and bad(a.get(k, "PASS")))
skip_diff = sorted(k for k in b if b[k] == "SKIP" and a.get(k) == "PASS" or a.get(k) == "SKIP" and b.get(k) == "PASS")
print(f"failing in {b_dir} only ({len(only_b)}):")
for k in only_b: print(f"  {k[0]}\t{k[1]}\t{b[k]} (A: {a.get(k,'MISSING')})")
print(f"failing in {a_dir} only ({len(only_a)}):")
for k in only_a: print(f"  {k[0]}\t{k[1]}\t{a[k]} (B: {b.get(k,'MISSING')})")
print(f"failing in both ({len(both)}):")
for k in both: print(f"  {k[0]}\t{k[1]}\tA: {a[k]} B: {b[k]}")
print(f"skipped in one, passed in the other ({len(skip_diff)}):")
for k in skip_diff: print(f"  {k[0]}\t{k[1]}\tA: {a.get(k)} B: {b.get(k)}")
EOF
}

# ---------------------------------------------------------------------------------------------
# arguments

SUITE=all
while [ $# -gt 0 ]; do
  case "$1" in
    --suite) SUITE=$2; shift 2 ;;
    --compare) [ $# -eq 3 ] || die "usage: $0 --compare RESULTS_A RESULTS_B"; compare "$2" "$3"; exit 0 ;;
    -h|--help) sed -n '2,58p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) break ;;
  esac
done
[ $# -eq 1 ] || die "usage: $0 [--suite all|amqplib|go|kombu] AMQP_URL"
URL=$1
case "$SUITE" in all|amqplib|go|kombu) ;; *) die "--suite must be all, amqplib, go or kombu" ;; esac

# host and port of the URL (for the IPv6 variant and the results dir name)
read -r URL_HOST URL_PORT URL6 < <(python3 - "$URL" <<'EOF'
import sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
port = u.port or 5672
cred = ""
if u.username is not None:
    cred = u.username + (":" + (u.password or "") if u.password is not None else "") + "@"
print(u.hostname, port, f"{u.scheme}://{cred}[::1]:{port}{u.path}")
EOF
) || die "cannot parse URL $URL"
OUT=${OUT:-$WORK/results/${URL_HOST}_${URL_PORT}}
mkdir -p "$WORK" "$OUT"
(exec 3<>"/dev/tcp/$URL_HOST/$URL_PORT") 2>/dev/null || die "nothing listens on $URL_HOST:$URL_PORT"
echo "broker: $URL   results: $OUT"

TOTAL_FAILED=0

# ---------------------------------------------------------------------------------------------
# amqplib

install_amqplib() {
  command -v node >/dev/null && command -v npm >/dev/null || {
    as_root apt-get update && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm
  } || die "cannot install node/npm"
  local dir=$WORK/amqplib
  if [ ! -f "$dir/pristine/package.json" ] || ! grep -q "\"version\": \"$AMQPLIB_VERSION\"" "$dir/pristine/package.json"; then
    rm -rf "$dir"; mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "amqplib@$AMQPLIB_VERSION" >/dev/null && tar xzf "amqplib-$AMQPLIB_VERSION.tgz" && mv package pristine) \
      || die "npm pack amqplib@$AMQPLIB_VERSION failed"
    [ -d "$dir/pristine/test" ] || die "amqplib@$AMQPLIB_VERSION tarball has no test/ directory"
  fi
  # claire (the property-test library) goes into $dir/node_modules, found from $dir/package by
  # node's parent-directory lookup; installing it inside the package would pull every devDependency.
  if [ ! -d "$dir/node_modules/claire" ]; then
    (cd "$dir" && echo '{"private":true}' >package.json && npm install --silent --no-audit --no-fund "claire@$CLAIRE_VERSION") \
      || die "npm install claire failed"
  fi
}

prepare_amqplib() {
  local dir=$WORK/amqplib
  rm -rf "$dir/package"; cp -a "$dir/pristine" "$dir/package"
  cd "$dir/package/test" || die "no $dir/package/test"
  # Make the tests that hard-code amqp://localhost dial the broker under test.
  sed -i -e 's/\bconnect((/connect(process.env.URL, (/g' \
         -e 's/\bconnect(dom\.bind(/connect(process.env.URL, dom.bind(/g' callback_api.test.js
  sed -i -e "s#connect('amqp://localhost', #connect(process.env.URL, #g" \
         -e "s#'amqp://localhost?#'amqp://localhost:' + process.env.PORT + '?#g" \
         -e "s#hostname: 'localhost' }#hostname: 'localhost', port: +process.env.PORT }#g" \
         -e "s#connect({ heartbeat: 20 }#connect({ heartbeat: 20, port: +process.env.PORT }#g" \
         -e "s#connect('amqp://\[::1\]', #connect(process.env.URL6, #g" connect.test.js
  grep -q "connect(process.env.URL, (" callback_api.test.js && grep -q "process.env.URL6" connect.test.js \
    && [ "$(grep -c 'process.env.PORT' connect.test.js)" = 4 ] \
    || die "patching amqplib tests failed (test sources changed?)"
  cd - >/dev/null || true
}

run_amqplib() {
  step "amqplib $AMQPLIB_VERSION against $URL"
  [ -n "${SKIP_INSTALL:-}" ] || install_amqplib
  prepare_amqplib
  local pkg=$WORK/amqplib/package logs=$OUT/amqplib f files rc
  rm -rf "$logs"; mkdir -p "$logs"
  files=${AMQPLIB_FILES:-$(cd "$pkg/test" && ls *.test.js)}
  for f in $files; do
    local t0=$SECONDS
    (cd "$pkg" && URL=$URL URL6=$URL6 PORT=$URL_PORT TEST_TIMEOUT_MS=$AMQPLIB_TEST_TIMEOUT \
        timeout -k 5 "$AMQPLIB_FILE_TIMEOUT" nice -n 10 node --test --test-concurrency=1 \
        --require "$HERE/node-test-preload.js" \
        --test-reporter="$HERE/jsonl-reporter.mjs" --test-reporter-destination=stdout \
        --test-reporter=spec --test-reporter-destination="$logs/$f.out" \
        "test/$f" >"$logs/$f.jsonl" 2>"$logs/$f.stderr")
    rc=$?
    printf '  %-24s exit %-3s %4ss\n' "$f" "$rc" "$((SECONDS - t0))"
    [ "$rc" = 124 ] || [ "$rc" = 137 ] && echo "TIMEOUT $f $AMQPLIB_FILE_TIMEOUT" >>"$logs/file-timeouts"
  done
  python3 "$HERE/amqplib_results.py" "$logs" "$OUT/amqplib.tsv"
  [ $? = 0 ] || TOTAL_FAILED=1
}

# ---------------------------------------------------------------------------------------------
# amqp091-go

# The reason a test is expected to fail on Warren (known-failures.tsv), or nothing.
known_failure() {
  awk -F'\t' -v suite="$1" -v test="$2" '$1 == suite && $2 == test { print $3 }' "$HERE/known-failures.tsv"
}

install_go() {
  local need=()
  command -v go >/dev/null || need+=(golang-go)
  [ -d /usr/share/gocode/src/$GO_PKG ] || need+=(golang-github-rabbitmq-amqp091-go-dev)
  [ -d /usr/share/gocode/src/go.uber.org/goleak ] || need+=(golang-uber-goleak-dev)
  if [ ${#need[@]} -gt 0 ]; then
    as_root apt-get update && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}" \
      || die "apt-get install ${need[*]} failed"
  fi
}

run_go() {
  step "amqp091-go against $URL"
  [ -n "${SKIP_INSTALL:-}" ] || install_go
  local ver; ver=$(dpkg-query -W -f='${Version}' golang-github-rabbitmq-amqp091-go-dev 2>/dev/null || echo '?')
  echo "amqp091-go Debian package $ver; $(go version)"
  local gopath=$WORK/go src=$WORK/go/src/$GO_PKG bin=$WORK/go/amqp091.test logs=$OUT/go
  rm -rf "$src"; mkdir -p "$(dirname "$src")"; cp -a "/usr/share/gocode/src/$GO_PKG" "$src"
  if [ -n "${GO_ANY_PRODUCT:-}" ]; then
    # Run the tests that are gated on server product "RabbitMQ" against any broker.
    sed -i -e 's/ok \&\& product.(string) == "RabbitMQ"/ok \&\& product != nil/' \
           -e 's/ok \&\& server == "RabbitMQ"/ok \&\& server != nil/' "$src/integration_test.go"
    [ "$(grep -c ' != nil {$' "$src/integration_test.go")" -ge 2 ] && ! grep -q '== "RabbitMQ"' "$src/integration_test.go" \
      || die "GO_ANY_PRODUCT: patching integration_test.go failed"
    echo "GO_ANY_PRODUCT: tests gated on product \"RabbitMQ\" run against any broker"
  fi
  export GOPATH=$gopath:/usr/share/gocode GO111MODULE=off GOCACHE=$WORK/gocache GOFLAGS=-p=1 GOTOOLCHAIN=local
  (cd "$src" && nice -n 10 go test -tags integration -c -o "$bin" .) || die "building the amqp091-go test binary failed"
  rm -rf "$logs"; mkdir -p "$logs"
  local names name rc status t0 dt
  # The tests that talk to a broker: the rest of the package (client_test.go and friends)
  # drives an in-process mock server, says nothing about the broker, and some of its tests
  # allow the client 1 ms, which a loaded machine misses.
  local broker_tests
  broker_tests=$(cd "$src" && sed -n 's/^func \(Test[A-Za-z0-9_]*\)(.*/\1/p' integration_test.go connection_test.go | sort -u)
  names=$(cd "$src" && "$bin" -test.list '^Test' | grep '^Test' | grep -Fx "$broker_tests" | grep -E "${GO_TESTS:-.}")
  : >"$OUT/go.tsv"
  local p=0 f=0 s=0 x=0
  for name in $names; do
    t0=${EPOCHREALTIME/./}
    (cd "$src" && AMQP_URL=$URL timeout -k 5 "$GO_TEST_TIMEOUT" nice -n 10 "$bin" -test.v -test.count=1 \
        -test.run "^${name}\$" >"$logs/$name.out" 2>&1)
    rc=$?
    dt=$(( (${EPOCHREALTIME/./} - t0) / 100000 )); dt="$((dt / 10)).$((dt % 10))"
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then status=TIMEOUT
    elif [ "$rc" = 0 ] && grep -q -- "--- SKIP: $name " "$logs/$name.out"; then status=SKIP
    elif [ "$rc" = 0 ]; then status=PASS
    elif grep -q -- "--- PASS: $name " "$logs/$name.out" && grep -q 'goleak' "$logs/$name.out"; then status=LEAK
    else status=FAIL
    fi
    local msg=""
    [ "$status" = PASS ] || [ "$status" = SKIP ] || \
      msg=$(grep -E '_test\.go:[0-9]+:|goleak|panic:|FAIL' "$logs/$name.out" | head -n 3 | tr '\t\n' '  ' | cut -c1-300)
    local known; known=$(known_failure go "$name")
    if [ -n "$known" ]; then
      case $status in PASS) status=XPASS; msg="listed in known-failures.tsv ($known) but passed" ;; SKIP) ;; *) status=XFAIL; msg="$known" ;; esac
    fi
    printf 'go\t%s\t%s\t%s\t%s\n' "$name" "$status" "$dt" "$msg" >>"$OUT/go.tsv"
    case $status in
      PASS) p=$((p+1)) ;;
      SKIP) s=$((s+1)) ;;
      XFAIL) x=$((x+1)); printf '  XFAIL: %s -- %s\n' "$name" "$msg" ;;
      *) f=$((f+1)); printf '  %s: %s (%ss) -- %s\n' "$status" "$name" "$dt" "${msg:0:200}" ;;
    esac
  done
  echo "amqp091-go: $p passed, $f failed, $s skipped, $x known failures"
  [ "$f" = 0 ] || TOTAL_FAILED=1
}

# ---------------------------------------------------------------------------------------------
# kombu

KOMBU_VERSION=5.7.0
KOMBU_PINS=(kombu==$KOMBU_VERSION amqp==5.4.2 vine==5.1.0 pytest==8.3.5)

install_kombu() {
  local venv=$WORK/kombu-venv src=$WORK/kombu
  if [ ! -x "$venv/bin/pytest" ] || ! "$venv/bin/python" -c "import kombu, sys; sys.exit(kombu.__version__ != '$KOMBU_VERSION')" 2>/dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv" && "$venv/bin/pip" install -q "${KOMBU_PINS[@]}" || die "pip install ${KOMBU_PINS[*]} failed"
  fi
  if [ ! -f "$src/t/integration/test_py_amqp.py" ]; then
    rm -rf "$src" "$WORK/kombu-sdist"; mkdir -p "$WORK/kombu-sdist"
    "$venv/bin/pip" download -q --no-binary :all: --no-deps -d "$WORK/kombu-sdist" "kombu==$KOMBU_VERSION" \
      && tar xzf "$WORK/kombu-sdist/kombu-$KOMBU_VERSION.tar.gz" -C "$WORK/kombu-sdist" \
      && mv "$WORK/kombu-sdist/kombu-$KOMBU_VERSION" "$src" || die "fetching kombu $KOMBU_VERSION's sources failed"
  fi
}

run_kombu() {
  step "kombu $KOMBU_VERSION integration tests (py-amqp) against $URL"
  [ -n "${SKIP_INSTALL:-}" ] || install_kombu
  local src=$WORK/kombu logs=$OUT/kombu
  rm -rf "$logs"; mkdir -p "$logs"
  # The venv's kombu is the one imported; the tests name their queues themselves.
  (cd "$src" && RABBITMQ_HOST=$URL_HOST RABBITMQ_5672_TCP=$URL_PORT timeout -k 5 600 nice -n 10 \
    "$WORK/kombu-venv/bin/pytest" -p no:cacheprovider -o addopts= -q t/integration/test_py_amqp.py \
      --junitxml="$logs/junit.xml" >"$logs/pytest.out" 2>&1)
  python3 "$HERE/kombu_results.py" "$logs/junit.xml" "$OUT/kombu.tsv" "$HERE/known-failures.tsv" \
    || TOTAL_FAILED=1
}

case "$SUITE" in
  all) run_amqplib; run_go; run_kombu ;;
  amqplib) run_amqplib ;;
  go) run_go ;;
  kombu) run_kombu ;;
esac
echo "results in $OUT (compare two runs with: $0 --compare RESULTS_A RESULTS_B)"
exit $TOTAL_FAILED
