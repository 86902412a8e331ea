#!/usr/bin/env bash
# Side-by-side benchmark of Warren against RabbitMQ, written to BENCHMARKS.md.
#
#   scripts/bench.sh            full comparison (about 25-40 minutes on 2 cores)
#   QUICK=1 scripts/bench.sh    short run (2 s scenarios, small counts) to check the setup
#   scripts/bench.sh --smoke    CI smoke test: a few seconds of warren-perf against Warren only;
#                               fails unless lost = 0 and reordered = 0. No RabbitMQ, no report.
#   scripts/bench.sh --soak     an hour of churn against Warren alone (warren-perf soak): rounds
#                               of SOAK_CONNECTIONS=10000 connections opened and closed,
#                               channels and queues churned, a steady confirmed stream, RSS,
#                               open files and probe latency sampled every SOAK_SAMPLE=10 s for
#                               SOAK_SECONDS=3600; fails unless memory and open files stay
#                               flat (scripts/bench/soak.py check: SOAK_RSS_GROWTH_MIB=32,
#                               SOAK_FD_SLACK=16) and nothing of the stream is lost. Writes the
#                               plot (docs/bench/soak.svg), the raw samples
#                               (docs/bench/soak-samples.csv) and BENCHMARKS.md's soak section
#                               unless SOAK_REPORT=0. SOAK_PROFILE=release|debug (release).
#
# The full run installs rabbitmq-server from Debian's packages if it is missing, starts a
# RabbitMQ node of its own (own name, ports and data dir: any default node on 5672 is left
# alone), builds and starts a release Warren on its own port and data dir, runs every scenario
# against both in alternation for several rounds, takes medians and writes BENCHMARKS.md.
# Needs root (or sudo) for apt-get and to run the node as the rabbitmq user.
#
# Environment:
#   ROUNDS=3            rounds per scenario (medians are taken over them)
#   QUICK=1             short durations and small counts (not representative)
#   SCENARIOS=a,b,...   subset: rawpipe t16_autoack t16_ack t1k_4x4 fanout10 topic10k
#                       prio10 ttl_dlx maxlen (queue features: their own report section)
#                       persistent latency lat16_2k lat16_10k lat1k_2k lat1k_10k
#                       floor_2k floor_10k connections queues backlog restart paging mgmt_list
#                       (rawpipe and floor_* run with no broker; restart and paging are
#                       Warren only, each on a Warren of its own;
#                       RabbitMQ is not started when only Warren-only scenarios are selected)
#   DURATION=10         seconds per throughput/latency run (QUICK: 2)
#   WARREN_PORT=5693  RABBIT_PORT=5692  RABBIT_DIST_PORT=25692
#   WARREN_DUR_PORT=5694  port of the restart/paging scenarios' own Warren
#   RABBIT_NODENAME=warrenbench@localhost
#   BENCH_OUT=BENCHMARKS.md   where the report goes (absolute, or relative to the repo root)
#   KEEP_TMP=1          keep the brokers' temporary data dirs
#   SMOKE_PROFILE=debug build profile for --smoke (debug|release)
#   WAIT_LOAD=0.6       before each run wait until the 1-minute load is below this (polled
#                       every LOAD_POLL=30 s, at most LOAD_WAIT_MAX=2700 s); off by default
#                       (on, at 0.6, in A/B mode). Each run's load is recorded either way.
#   SPLICE=1            write only the sections the selected scenarios make into BENCH_OUT
#                       (management API: mgmt_list; queue features: prio10 ttl_dlx maxlen)
#   AB_BEFORE=BIN       A/B mode (see scripts/bench/ab.sh): the scenarios against the Warren
#                       binary BIN (before, AMQP port AB_PORT=5695) and this checkout's (after),
#                       no RabbitMQ; only the A/B section of BENCH_OUT is written.
#                       AB_BEFORE_REV names BIN's commit in the report.
#   SCRAPE_EVERY=S      with AB_BEFORE: Prometheus scrapes the "after" Warren's
#                       /metrics/per-object every S s during its runs (scripts/bench/scrape_ab.sh:
#                       one binary, scraped or not; its own section of BENCH_OUT).
#
# mgmt_list: MGMT_QUEUES=100000 queues (QUICK: 5000) declared with warren-perf (at most
#   MGMT_DECLARE_TIMEOUT=1800 s), then GET /api/queues, a first page, a middle page sorted by
#   name and filtered, GET /api/overview, the web UI's queue-list request and the Prometheus
#   scrapes (/metrics, /metrics/per-object) timed MGMT_REPS=3 times each with curl (each at
#   most MGMT_TIMEOUT=600 s); then each broker's own web UI is opened on its queue list in
#   headless Chromium (scripts/bench/ui_open.mjs; npm's playwright-core from tests/ui) for
#   MGMT_UI_SECONDS=60 s (0: skip): its load time and the broker's CPU meanwhile. RSS before
#   and after. RabbitMQ gets its management and prometheus plugins (on
#   127.0.0.1:RABBIT_MGMT_PORT=15682 and RABBIT_PROM_PORT=15694) for this scenario only.
#
# Durability scenarios (Warren only; fresh data dir and Warren process each round):
#   restart   1,000,000 x 1 KiB persistent messages over 100 durable queues (QUICK: 100,000),
#             kill -9, restart (time to 'listening amqp'), clean stop, restart again, drain and
#             check every message is there.
#   paging    10 GiB of 16 KiB transient messages with --memory-budget 1 GiB (QUICK: 2 GiB,
#             256 MiB): peak RSS against the budget; skipped if free disk < 2x the backlog.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
HELPER=$ROOT/scripts/bench/report.py
# shellcheck source=lib/browser.sh
. "$ROOT/scripts/lib/browser.sh"

MODE=full
case "${1:-}" in
  --smoke) MODE=smoke ;;
  --soak) MODE=soak ;;
  "") ;;
  -h|--help) sed -n '2,70p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: $0 [--smoke|--soak]" >&2; exit 2 ;;
esac

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Raise our open-file limit (inherited by Warren and warren-perf); without CAP_SYS_RESOURCE the
# hard limit is the ceiling.
raise_nofile() { ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true; }
raise_nofile

port_free() {
  python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket()
try:
    s.bind(("0.0.0.0", int(sys.argv[1])))
except OSError:
    sys.exit(1)
EOF
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
nofile_of() { awk '/^Max open files/ {print $4}' "/proc/$1/limits" 2>/dev/null || echo '?'; }
io_written() { as_root awk '/^write_bytes:/ {print $2}' "/proc/$1/io" 2>/dev/null || true; }
# CPU seconds (user + system) a process has used so far.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / hz}' "/proc/$1/stat" 2>/dev/null || true; }

# --------------------------------------------------------------------------------------------
# state and cleanup

TMP=""
WARREN_PID=""
WARREN_N=0
DW_PID=""
DW_N=0
RMQ_BG_PID=""
RMQ_PID=""
RMQ_UP=""
EPMD_WAS_RUNNING=yes

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_warren || true
  stop_before || true
  dw_stop TERM || true
  if [ -n "$RMQ_UP" ]; then stop_rabbit || true; fi
  if [ "$EPMD_WAS_RUNNING" = no ] && command -v epmd >/dev/null 2>&1; then
    # Only if this script's node started it; epmd refuses while other nodes are registered.
    as_root epmd -kill >/dev/null 2>&1 || true
  fi
  if [ -n "$TMP" ] && [ -d "$TMP" ]; then
    if [ "${KEEP_TMP:-}" = 1 ]; then
      echo "bench: kept $TMP"
    else
      as_root rm -rf "$TMP" || true
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

make_tmp() {
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/warren-bench.XXXXXX")
  chmod 755 "$TMP"
}

# --------------------------------------------------------------------------------------------
# Warren

WARREN_BIN=""
WARREN_LOG=""
WARREN_MGMT=""

# wstart BIN PORT NAME: start a Warren on a fresh data dir $TMP/NAME-data and wait for
# 'listening amqp'; sets W_PID, W_LOG, W_URI and W_MGMT (its management HOST:PORT, if any).
wstart() {
  local bin=$1 port=$2 name=$3
  WARREN_N=$((WARREN_N + 1))
  local data=$TMP/$name-data
  rm -rf "$data"
  mkdir -p "$data"
  W_LOG=$LOGDIR/$name-$WARREN_N.log
  WARREN_CMD="$bin --bind 127.0.0.1 --amqp-port $port --mgmt-port 0 --prometheus-port 0 --data-dir $data"
  # shellcheck disable=SC2086
  $WARREN_CMD >"$W_LOG" 2>&1 &
  W_PID=$!
  local i addr=""
  for i in $(seq 1 300); do
    addr=$(sed -n 's/.*listening amqp \([^ ]*\).*/\1/p' "$W_LOG" | head -n1)
    [ -n "$addr" ] && break
    kill -0 "$W_PID" 2>/dev/null || { cat "$W_LOG" >&2; die "$name exited during start"; }
    sleep 0.1
  done
  [ -n "$addr" ] || { cat "$W_LOG" >&2; die "$name did not report 'listening amqp' in 30 s"; }
  W_URI="amqp://guest:guest@127.0.0.1:${addr##*:}/%2f"
  W_MGMT=$(sed -n 's/.*listening management \([^ ]*\).*/\1/p' "$W_LOG" | head -n1)
  W_METRICS=$(sed -n 's/.*listening prometheus \([^ ]*\).*/\1/p' "$W_LOG" | head -n1)
}

# wstop PID: SIGTERM, up to 10 s, then SIGKILL.
wstop() {
  local pid=$1 i
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

start_warren() {
  wstart "$WARREN_BIN" "$WARREN_PORT" warren
  WARREN_PID=$W_PID WARREN_LOG=$W_LOG WARREN_URI=$W_URI WARREN_MGMT=$W_MGMT WARREN_METRICS=$W_METRICS
  WARREN_ACTUAL_PORT=${W_URI##*:}; WARREN_ACTUAL_PORT=${WARREN_ACTUAL_PORT%%/*}
}
stop_warren() { wstop "$WARREN_PID"; WARREN_PID=""; }

# A/B mode (AB_BEFORE=/path/to/warren): the other Warren, the "before" binary.
BEFORE_PID=""
start_before() {
  wstart "$AB_BEFORE" "$AB_PORT" before
  BEFORE_PID=$W_PID BEFORE_URI=$W_URI
}
stop_before() { wstop "$BEFORE_PID"; BEFORE_PID=""; }

# The durability scenarios' own Warren (port WARREN_DUR_PORT, a data dir kept across its
# restarts). dw_start DATA [ARGS...] starts it and waits for 'listening amqp' (up to 10 min:
# recovery of a large store is what is measured); it records the exec time in DW_T0 and the
# time the line was seen in DW_T1. Returns 1 if Warren exits or never listens.
DW_LOG=""
DW_T0=""
DW_T1=""
dw_start() {
  local data=$1; shift
  DW_N=$((DW_N + 1))
  DW_LOG=$LOGDIR/warren-dur-$DW_N.log
  DW_CMD="$WARREN_BIN --bind 127.0.0.1 --amqp-port $DUR_PORT --mgmt-port 0 --prometheus-port 0 --data-dir $data $*"
  # As shown in the report: repo-relative binary, $DATA for the temporary data dir.
  DW_SHOWN="${WARREN_BIN#"$ROOT"/} --bind 127.0.0.1 --amqp-port $DUR_PORT --mgmt-port 0 --prometheus-port 0 --data-dir \$DATA${*:+ $*}"
  DW_T0=$(date +%s.%N)
  # shellcheck disable=SC2086
  $DW_CMD >"$DW_LOG" 2>&1 &
  DW_PID=$!
  local i
  for i in $(seq 1 60000); do
    if grep -q 'listening amqp' "$DW_LOG" 2>/dev/null; then
      DW_T1=$(date +%s.%N)
      DW_URI="amqp://guest:guest@127.0.0.1:$DUR_PORT/%2f"
      return 0
    fi
    if ! dw_alive "$DW_PID"; then
      echo "  warren (durability instance) exited during start; log $DW_LOG:" >&2
      tail -n 20 "$DW_LOG" >&2
      wait "$DW_PID" 2>/dev/null || true
      DW_PID=""
      return 1
    fi
    sleep 0.01
  done
  echo "  warren (durability instance) did not report 'listening amqp' in 10 min" >&2
  dw_stop KILL
  return 1
}

# dw_stop TERM|KILL: stop it (TERM: up to 2 min for a clean shutdown, then KILL). Sets
# DW_STOP_S to the seconds it took to exit. (Not in a subshell: only this shell can reap it.)
DW_STOP_S=""
dw_alive() {
  local st
  st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}
dw_stop() {
  DW_STOP_S=""
  [ -n "$DW_PID" ] || return 0
  local t0 t1 i
  t0=$(date +%s.%N)
  kill "-$1" "$DW_PID" 2>/dev/null || true
  for i in $(seq 1 12000); do
    dw_alive "$DW_PID" || break
    sleep 0.01
  done
  kill -KILL "$DW_PID" 2>/dev/null || true
  wait "$DW_PID" 2>/dev/null || true
  t1=$(date +%s.%N)
  DW_PID=""
  DW_STOP_S=$(awk "BEGIN {printf \"%.3f\", $t1 - $t0}")
}

rss_of() { awk '/^VmRSS:/ {print $2 * 1024}' "/proc/$1/status" 2>/dev/null || true; }

# --------------------------------------------------------------------------------------------
# smoke mode: Warren only, a few seconds, correctness checks

# warren_alone MODE PROFILE: build Warren and warren-perf (PROFILE debug|release), start
# Warren alone on a free port (or WARREN_PORT) in a temporary dir: the smoke and soak modes.
warren_alone() {
  local mode=$1 profile=$2 flags=()
  case "$profile" in
    debug) ;;
    release) flags=(--release) ;;
    *) die "the $mode profile must be debug or release" ;;
  esac
  step "bench --$mode: cargo build ${flags[*]} --bin warren --bin warren-perf"
  cargo build --quiet "${flags[@]}" --bin warren --bin warren-perf
  WARREN_BIN=$TARGET_DIR/$profile/warren
  PERF=$TARGET_DIR/$profile/warren-perf
  make_tmp
  LOGDIR=$TMP
  WARREN_PORT=${WARREN_PORT:-0}
  start_warren
}

if [ "$MODE" = smoke ]; then
  warren_alone smoke "${SMOKE_PROFILE:-debug}"
  echo "warren pid $WARREN_PID on port $WARREN_ACTUAL_PORT"
  fail=0
  smoke() {
    local name=$1; shift
    local out rc=0
    out=$(timeout -k 5 120 "$PERF" "$@" 2>"$TMP/smoke-$name.err") || rc=$?
    if ! printf '%s\n' "$out" | python3 "$HELPER" smoke-check "$name"; then
      echo "  command: warren-perf $*"
      tail -n 20 "$TMP/smoke-$name.err" | sed 's/^/  stderr: /'
      fail=1
    elif [ "$rc" != 0 ]; then
      echo "smoke $name: FAIL: exit $rc"
      fail=1
    fi
  }
  smoke throughput --uri "$WARREN_URI" throughput --producers 1 --consumers 1 --queues 1 \
    --size 16 --duration 2 --prefetch 1000 --confirm 256
  smoke latency --uri "$WARREN_URI" latency --rate 2000 --duration 2 --warmup 0.5 --size 16
  smoke rawpipe rawpipe --size 16 --duration 1
  smoke floor latency --no-broker --rate 2000 --duration 1 --warmup 0.2 --size 16 --from-schedule
  if ! kill -0 "$WARREN_PID" 2>/dev/null; then
    echo "smoke: FAIL: warren died"; tail -n 30 "$WARREN_LOG"; fail=1
  fi
  [ "$fail" = 0 ] || { echo "bench --smoke: FAILED"; exit 1; }
  echo "bench --smoke: ok"
  exit 0
fi

# --------------------------------------------------------------------------------------------
# soak mode: Warren only, an hour (or SOAK_SECONDS) of churn, flat memory and files checked
if [ "$MODE" = soak ]; then
  PROFILE=${SOAK_PROFILE:-release}
  SOAK_SECONDS=${SOAK_SECONDS:-3600}
  SOAK_SAMPLE=${SOAK_SAMPLE:-10}
  SOAK_CONNECTIONS=${SOAK_CONNECTIONS:-10000}
  SOAK_RSS_GROWTH_MIB=${SOAK_RSS_GROWTH_MIB:-32}
  SOAK_FD_SLACK=${SOAK_FD_SLACK:-16}
  SOAK_REPORT=${SOAK_REPORT:-1}
  warren_alone soak "$PROFILE"
  samples=$TMP/soak-samples.csv
  args=(soak --duration "$SOAK_SECONDS" --sample-every "$SOAK_SAMPLE"
        --connections "$SOAK_CONNECTIONS" --pid "$WARREN_PID" --samples "$samples")
  step "bench --soak: warren pid $WARREN_PID ($PROFILE), ${SOAK_SECONDS} s, samples every ${SOAK_SAMPLE} s"
  rc=0
  timeout -k 10 $((SOAK_SECONDS + 600)) "$PERF" --uri "$WARREN_URI" "${args[@]}" \
    >"$TMP/soak.json" 2>"$TMP/soak.err" || rc=$?
  tail -n 5 "$TMP/soak.err"
  if [ "$rc" != 0 ] || ! kill -0 "$WARREN_PID" 2>/dev/null; then
    echo "bench --soak: FAILED: warren-perf exit $rc"; tail -n 20 "$TMP/soak.err"
    tail -n 30 "$WARREN_LOG"; exit 1
  fi
  soak_ok=0
  python3 "$ROOT/scripts/bench/soak.py" check "$TMP/soak.json" "$SOAK_RSS_GROWTH_MIB" \
    "$SOAK_FD_SLACK" || soak_ok=1
  if [ "$SOAK_REPORT" = 1 ]; then
    bench_out=${BENCH_OUT:-BENCHMARKS.md}
    case "$bench_out" in /*) ;; *) bench_out=$ROOT/$bench_out ;; esac
    mkdir -p "$ROOT/docs/bench"
    cp "$samples" "$ROOT/docs/bench/soak-samples.csv"
    cp "$TMP/soak.json" "$ROOT/docs/bench/soak-result.json"
    python3 "$ROOT/scripts/bench/soak.py" report "$ROOT/docs/bench/soak-result.json" \
      "$ROOT/docs/bench/soak-samples.csv" "$ROOT/docs/bench/soak.svg" \
      "$bench_out" \
      "SOAK_SECONDS=$SOAK_SECONDS SOAK_CONNECTIONS=$SOAK_CONNECTIONS scripts/bench.sh --soak" \
      "$SOAK_RSS_GROWTH_MIB" "$SOAK_FD_SLACK"
    echo "bench --soak: report in $bench_out, docs/bench/soak.svg, docs/bench/soak-samples.csv"
  fi
  [ "$soak_ok" = 0 ] || { echo "bench --soak: FAILED"; exit 1; }
  echo "bench --soak: ok"
  exit 0
fi

# --------------------------------------------------------------------------------------------
# full comparison: settings

QUICK=${QUICK:-0}
ROUNDS=${ROUNDS:-3}
WARREN_PORT=${WARREN_PORT:-5693}
RABBIT_PORT=${RABBIT_PORT:-5692}
RABBIT_DIST_PORT=${RABBIT_DIST_PORT:-25692}
RABBIT_NODENAME=${RABBIT_NODENAME:-warrenbench@localhost}
BENCH_OUT=${BENCH_OUT:-BENCHMARKS.md}
LAT_RATE=10000
DUR_PORT=${WARREN_DUR_PORT:-5694}
RESTART_QUEUES=100
RESTART_SIZE=1024
PAGING_SIZE=16384
if [ "$QUICK" = 1 ]; then
  DURATION=${DURATION:-2}
  BINDINGS=1000; CONNS=1000; QUEUES=5000; BACKLOG=50000; PHASE=60
  RESTART_MSGS=100000
  PAGING_MSGS=131072; PAGING_BUDGET=268435456    # 2 GiB of 16 KiB messages, 256 MiB budget
else
  DURATION=${DURATION:-10}
  BINDINGS=10000; CONNS=10000; QUEUES=100000; BACKLOG=1000000; PHASE=300
  RESTART_MSGS=1000000
  PAGING_MSGS=655360; PAGING_BUDGET=1073741824   # 10 GiB of 16 KiB messages, 1 GiB budget
fi
DUR_PHASE=900
# mgmt_list: queues declared, then each listing request timed MGMT_REPS times.
MGMT_QUEUES=${MGMT_QUEUES:-$([ "$QUICK" = 1 ] && echo 5000 || echo 100000)}
MGMT_REPS=${MGMT_REPS:-3}
MGMT_TIMEOUT=${MGMT_TIMEOUT:-600}                  # seconds, per HTTP request
MGMT_DECLARE_TIMEOUT=${MGMT_DECLARE_TIMEOUT:-1800}  # seconds, declaring the queues
MGMT_SETTLE=${MGMT_SETTLE:-10}                      # seconds between declaring and listing
RABBIT_MGMT_PORT=${RABBIT_MGMT_PORT:-15682}
RABBIT_PROM_PORT=${RABBIT_PROM_PORT:-15694}
# Seconds a headless Chromium keeps each broker's web UI open on its queue list (0: no UI).
MGMT_UI_SECONDS=${MGMT_UI_SECONDS:-$([ "$QUICK" = 1 ] && echo 10 || echo 60)}
ALL_SCENARIOS="rawpipe t16_autoack t16_ack t1k_4x4 fanout10 topic10k prio10 ttl_dlx maxlen persistent latency lat16_2k lat16_10k lat1k_2k lat1k_10k floor_2k floor_10k connections queues backlog restart paging mgmt_list"
# A/B mode: the same scenarios against two Warren binaries, no RabbitMQ.
AB_BEFORE=${AB_BEFORE:-}
AB_PORT=${AB_PORT:-5695}
# A/B mode only: scrape the "after" Warren's /metrics/per-object every this many seconds.
SCRAPE_EVERY=${SCRAPE_EVERY:-}
AB_SCENARIOS="t16_autoack t16_ack t1k_4x4 fanout10 topic10k persistent latency lat16_2k lat16_10k lat1k_2k lat1k_10k connections queues backlog"
if [ -n "$AB_BEFORE" ]; then
  [ -x "$AB_BEFORE" ] || die "AB_BEFORE=$AB_BEFORE is not an executable"
  case "$AB_BEFORE" in /*) ;; *) AB_BEFORE=$PWD/$AB_BEFORE ;; esac
  SELECTED=${SCENARIOS:-t16_autoack t16_ack t1k_4x4 fanout10 topic10k persistent latency connections}
  WAIT_LOAD=${WAIT_LOAD-0.6}
else
  SELECTED=${SCENARIOS:-$ALL_SCENARIOS}
fi
SELECTED=" ${SELECTED//,/ } "
for s in $SELECTED; do
  case " $ALL_SCENARIOS " in *" $s "*) ;; *) die "unknown scenario '$s' (known: $ALL_SCENARIOS)" ;; esac
  if [ -n "$AB_BEFORE" ]; then
    case " $AB_SCENARIOS " in *" $s "*) ;; *) die "scenario '$s' is not run in A/B mode (AB_BEFORE; known: $AB_SCENARIOS)" ;; esac
  fi
done
case "$ROUNDS" in ''|*[!0-9]*|0) die "ROUNDS must be a positive integer" ;; esac
# Scenarios that run against no broker or against a Warren of their own.
is_warren_only() { case "$1" in rawpipe|floor_*|restart|paging) return 0 ;; *) return 1 ;; esac; }
NEED_RABBIT=""
if [ -z "$AB_BEFORE" ]; then
  for s in $SELECTED; do is_warren_only "$s" || NEED_RABBIT=1; done
fi

# WAIT_LOAD=X: before each run, wait until the 1-minute load average is below X (polling
# every LOAD_POLL s, at most LOAD_WAIT_MAX s; then run anyway). The load at the start and end
# of every run is recorded either way.
WAIT_LOAD=${WAIT_LOAD:-}
LOAD_POLL=${LOAD_POLL:-30}
LOAD_WAIT_MAX=${LOAD_WAIT_MAX:-2700}
load1() { cut -d' ' -f1 /proc/loadavg; }
wait_quiet() {
  [ -n "$WAIT_LOAD" ] || return 0
  local waited=0 l
  while l=$(load1); awk "BEGIN {exit !($l >= $WAIT_LOAD)}"; do
    if [ "$waited" -ge "$LOAD_WAIT_MAX" ]; then
      echo "  load $l still >= $WAIT_LOAD after ${waited} s: running anyway"
      return 0
    fi
    [ "$waited" = 0 ] && echo "  waiting for the 1-minute load ($l) to fall below $WAIT_LOAD"
    sleep "$LOAD_POLL"
    waited=$((waited + LOAD_POLL))
  done
  [ "$waited" = 0 ] || echo "  load $l after ${waited} s"
}

# The warren-perf arguments of each scenario (@PID@ = the broker's pid).
scenario_args() {
  local d=$DURATION
  case "$1" in
    rawpipe) echo "rawpipe --size 16 --duration $d" ;;
    t16_autoack) echo "throughput --producers 1 --consumers 1 --queues 1 --size 16 --duration $d --autoack" ;;
    t16_ack) echo "throughput --producers 1 --consumers 1 --queues 1 --size 16 --duration $d --prefetch 1000" ;;
    t1k_4x4) echo "throughput --producers 4 --consumers 4 --queues 4 --size 1024 --duration $d --autoack" ;;
    # Queue features (their own section of the report).
    prio10) echo "throughput --producers 10 --consumers 2 --queues 1 --size 16 --duration $d --prefetch 1000 --queue-arg x-max-priority=10 --priorities 10" ;;
    ttl_dlx) echo "throughput --producers 1 --consumers 1 --queues 1 --size 16 --duration $d --exchange default --ttl-stage 0 --autoack" ;;
    maxlen) echo "throughput --producers 1 --consumers 0 --queues 1 --size 16 --duration $d --queue-arg x-max-length=1000" ;;
    fanout10) echo "throughput --producers 1 --consumers 10 --queues 10 --size 16 --duration $d --exchange fanout --autoack" ;;
    topic10k) echo "throughput --producers 1 --consumers 1 --queues 1 --size 16 --duration $d --exchange topic --bindings $BINDINGS --autoack" ;;
    persistent) echo "throughput --producers 1 --consumers 1 --queues 1 --size 1024 --duration $d --persistent --confirm 256 --prefetch 1000" ;;
    latency) echo "latency --rate $LAT_RATE --duration $d --size 16" ;;
    # Tail latency with a consumer that acks in batches (prefetch 1000, multiple=true every
    # 250), measured from each message's scheduled send time.
    lat16_2k) echo "latency --rate 2000 --duration $d --size 16 --prefetch 1000 --ack-every 250 --from-schedule" ;;
    lat16_10k) echo "latency --rate 10000 --duration $d --size 16 --prefetch 1000 --ack-every 250 --from-schedule" ;;
    lat1k_2k) echo "latency --rate 2000 --duration $d --size 1024 --prefetch 1000 --ack-every 250 --from-schedule" ;;
    lat1k_10k) echo "latency --rate 10000 --duration $d --size 1024 --prefetch 1000 --ack-every 250 --from-schedule" ;;
    # The same latency measurement through a relay that only copies bytes: the floor this
    # machine (threads, loopback, scheduler) puts under any broker's figures.
    floor_2k) echo "latency --no-broker --rate 2000 --duration $d --size 1024 --from-schedule" ;;
    floor_10k) echo "latency --no-broker --rate 10000 --duration $d --size 1024 --from-schedule" ;;
    connections) echo "connections --count $CONNS --channels 20 --pid @PID@" ;;
    queues) echo "queues --count $QUEUES --pid @PID@ --keep" ;;
    backlog) echo "backlog --messages $BACKLOG --size 1024 --pid @PID@ --phase-timeout $PHASE" ;;
    # The durability scenarios' steps (run_restart, run_paging).
    restart_keep) echo "backlog --messages $RESTART_MSGS --size $RESTART_SIZE --queues $RESTART_QUEUES --persistent --keep --name bench-restart --pid @PID@ --phase-timeout $DUR_PHASE" ;;
    restart_drain) echo "backlog --drain-only --messages $RESTART_MSGS --queues $RESTART_QUEUES --persistent --name bench-restart --pid @PID@ --phase-timeout $DUR_PHASE" ;;
    paging) echo "backlog --messages $PAGING_MSGS --size $PAGING_SIZE --pid @PID@ --phase-timeout $DUR_PHASE" ;;
  esac
}
is_memory() { case "$1" in connections|queues|backlog) return 0 ;; *) return 1 ;; esac; }

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
BENCH_DIR=$TARGET_DIR/bench
LOGDIR=$BENCH_DIR/logs-$STAMP
RESULTS=$BENCH_DIR/results-$STAMP.jsonl
META=$BENCH_DIR/meta-$STAMP.env
mkdir -p "$LOGDIR"
: >"$RESULTS"
START_TIME=$(date +%s)

# --------------------------------------------------------------------------------------------
# RabbitMQ

# shellcheck source=lib/rabbitmq-node.sh
. "$ROOT/scripts/lib/rabbitmq-node.sh"

ensure_rabbitmq() {
  [ -x "$RMQ_SBIN/rabbitmq-server" ] && id rabbitmq >/dev/null 2>&1 && return 0
  step "installing rabbitmq-server (Debian package)"
  rmq_ensure_installed
}

RMQ_DIR=""
RABBIT_CONF=""
setup_rabbit_dir() {
  rmq_node_env "$TMP/rabbitmq" "$RABBIT_NODENAME" "$RABBIT_PORT" "$RABBIT_DIST_PORT"
  RABBIT_CONF="listeners.tcp.default = 127.0.0.1:$RABBIT_PORT"
  rmq_write_files "$RABBIT_CONF"
}

RMQ_N=0
start_rabbit() {
  RMQ_N=$((RMQ_N + 1))
  RMQ_UP=1
  rmq_start "$LOGDIR/rabbitmq-$RMQ_N.log" "$RABBIT_PORT"
  RMQ_PID=$(as_root cat "$RMQ_DIR/rabbitmq.pid" 2>/dev/null | tr -dc '0-9')
  if [ -z "$RMQ_PID" ] || [ "$(cat "/proc/$RMQ_PID/comm" 2>/dev/null)" != beam.smp ]; then
    # No pid file: the beam.smp whose environment names this node.
    RMQ_PID=""
    local p
    for p in $(pgrep -x beam.smp || true); do
      if as_root cat "/proc/$p/environ" 2>/dev/null | tr '\0' '\n' | grep -qx "RABBITMQ_NODENAME=$RABBIT_NODENAME"; then
        RMQ_PID=$p
      fi
    done
  fi
  [ -n "$RMQ_PID" ] || die "cannot find the beam.smp pid of $RABBIT_NODENAME"
  RABBIT_URI="amqp://guest:guest@127.0.0.1:$RABBIT_PORT/%2f"
}

stop_rabbit() {
  [ -n "$RMQ_UP" ] || return 0
  rmq_run timeout 60 "$RMQ_SBIN/rabbitmqctl" -n "$RABBIT_NODENAME" stop >/dev/null 2>&1 || true
  local i
  if [ -n "$RMQ_PID" ]; then
    for i in $(seq 1 300); do
      [ -d "/proc/$RMQ_PID" ] || break
      sleep 0.1
    done
    if [ -d "/proc/$RMQ_PID" ]; then
      as_root kill -TERM "$RMQ_PID" 2>/dev/null || true
      sleep 3
      as_root kill -KILL "$RMQ_PID" 2>/dev/null || true
    fi
  fi
  if [ -n "$RMQ_BG_PID" ]; then
    for i in $(seq 1 100); do
      kill -0 "$RMQ_BG_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -TERM "$RMQ_BG_PID" 2>/dev/null || true
    wait "$RMQ_BG_PID" 2>/dev/null || true
  fi
  RMQ_BG_PID=""
  RMQ_PID=""
  RMQ_UP=""
}

# --------------------------------------------------------------------------------------------
# running scenarios

PERF=$TARGET_DIR/release/warren-perf
WARREN_BIN=$TARGET_DIR/release/warren

# run_one SCENARIO BROKER ROUND: run warren-perf once and record the result.
run_one() {
  local sc=$1 br=$2 rd=$3
  local uri="" pid=""
  case "$br" in
    warren|after) uri=$WARREN_URI; pid=$WARREN_PID ;;
    before) uri=$BEFORE_URI; pid=$BEFORE_PID ;;
    rabbitmq) uri=$RABBIT_URI; pid=$RMQ_PID ;;
  esac
  local spec args=() shown=() w
  spec=$(scenario_args "$sc")
  for w in $spec; do
    if [ "$w" = @PID@ ]; then args+=("$pid"); shown+=('$PID'); else args+=("$w"); shown+=("$w"); fi
  done
  local cmd
  if [ "$br" = none ]; then
    cmd="warren-perf ${shown[*]}"
  else
    cmd="warren-perf --uri \$URI ${shown[*]}"
    args=(--uri "$uri" "${args[@]}")
  fi
  local err=$LOGDIR/$sc-$br-$rd.err io0="" io1="" out rc=0 t0 t1 l0 l1 c0="" c1=""
  wait_quiet
  local scraper=""
  if [ -n "$SCRAPE_EVERY" ] && [ "$br" = after ]; then
    # Prometheus' view of the run: the per-object endpoint scraped every SCRAPE_EVERY s.
    (while :; do
      curl -s -o /dev/null --max-time 30 "http://$WARREN_METRICS/metrics/per-object" || true
      sleep "$SCRAPE_EVERY"
    done) &
    scraper=$!
  fi
  [ -n "$pid" ] && io0=$(io_written "$pid") && c0=$(cpu_of "$pid")
  l0=$(load1)
  t0=$(date +%s.%N)
  out=$(timeout -k 10 1800 "$PERF" "${args[@]}" 2>"$err") || rc=$?
  t1=$(date +%s.%N)
  l1=$(load1)
  [ -n "$pid" ] && io1=$(io_written "$pid") && c1=$(cpu_of "$pid")
  if [ -n "$scraper" ]; then kill "$scraper" 2>/dev/null || true; wait "$scraper" 2>/dev/null || true; fi
  local io="" cpu=""
  if [ -n "$c0" ] && [ -n "$c1" ]; then cpu=$(awk "BEGIN {print $c1 - $c0}"); fi
  if [ -n "$io0" ] && [ -n "$io1" ]; then io=$((io1 - io0)); fi
  printf '%s\n' "$out" | python3 "$HELPER" record "$RESULTS" --scenario "$sc" --broker "$br" \
    --round "$rd" --rc "$rc" --elapsed "$(awk "BEGIN {print $t1 - $t0}")" \
    --io "$io" --cmd "$cmd" --stderr "$err" --load "$l0" --load-after "$l1" --cpu "$cpu"
}

# --------------------------------------------------------------------------------------------
# durability scenarios (Warren only, on a Warren of their own: DW_*)

# perf_step SPEC_ID OUT: run warren-perf against the durability instance with the arguments of
# scenario_args SPEC_ID; stdout to OUT, stderr to OUT.err. Sets STEP_CMD (as shown in the
# report); returns warren-perf's exit code.
perf_step() {
  local spec args=() shown=() w rc=0
  spec=$(scenario_args "$1")
  for w in $spec; do
    if [ "$w" = @PID@ ]; then args+=("$DW_PID"); shown+=('$PID'); else args+=("$w"); shown+=("$w"); fi
  done
  STEP_CMD="warren-perf --uri \$URI ${shown[*]}"
  timeout -k 10 1800 "$PERF" --uri "$DW_URI" "${args[@]}" >"$2" 2>"$2.err" || rc=$?
  tail -n 3 "$2.err" | sed 's/^/    /'
  return "$rc"
}

# startup_json NAME: what the last dw_start took, as JSON in $LOGDIR/NAME.json (exec to
# 'listening amqp' from the log's own timestamp, the 'recovered ...' line, RSS 1 s later).
startup_json() {
  local f=$1 rss
  sleep 1
  rss=$(rss_of "$DW_PID")
  python3 "$HELPER" startup "$DW_LOG" "$DW_T0" "$DW_T1" --rss "${rss:-}" >"$f" || true
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("    start %.3f s (recovery %s ms, %s messages), RSS %s MiB" % (d.get("startup_s") or -1, d.get("recover_ms"), d.get("recovered"), (d.get("rss") or 0) >> 20))' "$f" || true
}

# restart ROUND: publish a persistent backlog and keep it; kill -9; restart (timed); stop
# cleanly; restart (timed); drain and check every message.
run_restart() {
  local rd=$1 data=$TMP/warren-restart pfx=$LOGDIR/restart-$1 rc=0 cmds=() stop_s=""
  rm -rf "$data"; mkdir -p "$data"
  echo "  restart: fresh Warren on $data, port $DUR_PORT"
  if dw_start "$data"; then
    cmds+=("$DW_SHOWN   # fresh \$DATA")
    perf_step restart_keep "$pfx-publish.json" || rc=$?
    cmds+=("$STEP_CMD")
    cmds+=('kill -KILL $PID')
    dw_stop KILL 2>/dev/null # (no "Killed" job notice)
    cmds+=("$DW_SHOWN   # timed: exec to 'listening amqp'")
    if dw_start "$data"; then
      startup_json "$pfx-kill9.json"
      dw_stop TERM
      stop_s=$DW_STOP_S
      echo "    clean stop (SIGTERM) took $stop_s s"
      cmds+=('kill -TERM $PID   # clean stop, then the same start command again, timed')
      if dw_start "$data"; then
        startup_json "$pfx-clean.json"
        perf_step restart_drain "$pfx-drain.json" || rc=$?
        cmds+=("$STEP_CMD")
        dw_stop TERM
      else rc=1; fi
    else rc=1; fi
  else rc=1; fi
  [ "${KEEP_TMP:-}" = 1 ] || rm -rf "$data"
  local cmd
  cmd=$(printf '%s\n' "${cmds[@]}")
  python3 "$HELPER" compose restart --part "publish=$pfx-publish.json" \
      --part "kill9=$pfx-kill9.json" --part "clean=$pfx-clean.json" \
      --part "drain=$pfx-drain.json" --lift drain --set "clean_stop_s=$stop_s" \
      --set "messages=$RESTART_MSGS" --set "queues=$RESTART_QUEUES" --set "size=$RESTART_SIZE" |
    python3 "$HELPER" record "$RESULTS" --scenario restart --broker warren --round "$rd" \
      --rc "$rc" --cmd "$cmd" --stderr "$pfx-drain.json.err"
}

# paging ROUND: a transient backlog many times the memory budget; peak RSS against the budget.
run_paging() {
  local rd=$1 data=$TMP/warren-paging pfx=$LOGDIR/paging-$1 rc=0 need free
  need=$((PAGING_MSGS * PAGING_SIZE))
  free=$(df -PB1 "$TMP" | awk 'NR==2 {print $4}')
  if [ -z "$free" ] || [ "$free" -lt $((2 * need)) ]; then
    echo "  paging: skipped: free disk ${free:-?} B on $TMP < 2 x the $need B backlog"
    python3 "$HELPER" compose paging --set "skipped=free disk $(numfmt --to=iec "${free:-0}" 2>/dev/null || echo "${free:-?}")B on the data dir's filesystem is less than twice the $(numfmt --to=iec "$need" 2>/dev/null || echo "$need")B backlog" \
        --set "memory_budget=$PAGING_BUDGET" --set "backlog_bytes=$need" |
      python3 "$HELPER" record "$RESULTS" --scenario paging --broker warren --round "$rd" --rc 0
    return 0
  fi
  rm -rf "$data"; mkdir -p "$data"
  echo "  paging: fresh Warren on $data, port $DUR_PORT, --memory-budget $PAGING_BUDGET"
  local cmd=""
  if dw_start "$data" --memory-budget "$PAGING_BUDGET"; then
    cmd="$DW_SHOWN   # fresh \$DATA"
    perf_step paging "$pfx.json" || rc=$?
    cmd=$(printf '%s\n%s' "$cmd" "$STEP_CMD")
    dw_stop TERM
  else
    rc=1
  fi
  [ "${KEEP_TMP:-}" = 1 ] || rm -rf "$data"
  python3 "$HELPER" compose paging --base "$pfx.json" --set "memory_budget=$PAGING_BUDGET" \
      --set "backlog_bytes=$need" |
    python3 "$HELPER" record "$RESULTS" --scenario paging --broker warren --round "$rd" \
      --rc "$rc" --cmd "$cmd" --stderr "$pfx.json.err"
}

# A short run after each (re)start, so code loading and first allocations are not measured.
warm_up() {
  "$PERF" --uri "$1" throughput --duration 1 --size 16 --autoack >/dev/null 2>&1 || true
}
# Before a memory scenario: touch the connection and queue code paths only. A throughput
# warm-up would leave freed buffers in the allocator that the measured run then reuses.
warm_up_light() {
  "$PERF" --uri "$1" connections --count 10 --settle 0 >/dev/null 2>&1 || true
  "$PERF" --uri "$1" queues --count 10 --settle 0 >/dev/null 2>&1 || true
}

# restart_broker BROKER [light]
restart_broker() {
  local w=warm_up
  [ "${2:-}" = light ] && w=warm_up_light
  echo "  (restarting $1)"
  case "$1" in
    warren|after) stop_warren; start_warren; $w "$WARREN_URI" ;;
    before) stop_before; start_before; $w "$BEFORE_URI" ;;
    rabbitmq) stop_rabbit; start_rabbit; $w "$RABBIT_URI" ;;
  esac
}

# rabbit_mgmt on|off: the RabbitMQ node's files with or without the management plugin (on
# 127.0.0.1:RABBIT_MGMT_PORT); takes effect at its next start. Only mgmt_list turns it on:
# the plugin's statistics collection is work the other scenarios should not carry.
rabbit_mgmt() {
  local plugins='[].' conf=$RABBIT_CONF
  if [ "$1" = on ]; then
    plugins='[rabbitmq_management,rabbitmq_prometheus].'
    conf=$(printf '%s\nmanagement.tcp.ip = 127.0.0.1\nmanagement.tcp.port = %s\nprometheus.tcp.ip = 127.0.0.1\nprometheus.tcp.port = %s' \
      "$RABBIT_CONF" "$RABBIT_MGMT_PORT" "$RABBIT_PROM_PORT")
  fi
  echo "$plugins" | as_root tee "$RMQ_DIR/enabled_plugins" >/dev/null
  printf '%s\n' "$conf" | as_root tee "$RMQ_DIR/rabbitmq.conf" >/dev/null
}

# mgmt_list BROKER ROUND: a fresh broker (RabbitMQ with the management plugin), MGMT_QUEUES
# queues declared with warren-perf (bounded by MGMT_DECLARE_TIMEOUT; if it runs out, the
# count reached is what gets listed), then the listing requests timed (report.py mgmt-list).
# The broker is restarted plain afterwards, so no broker with 100,000 queues (and, for
# RabbitMQ, a statistics collector walking them) idles beside the next measurement.
run_mgmt_list() {
  local br=$1 rd=$2 pfx=$LOGDIR/mgmt_list-$1-$2 url metrics pid uri rc=0
  case "$br" in
    warren)
      restart_broker warren light
      url="http://$WARREN_MGMT"; metrics="http://$WARREN_METRICS"; pid=$WARREN_PID; uri=$WARREN_URI ;;
    rabbitmq)
      rabbit_mgmt on
      restart_broker rabbitmq light
      url="http://127.0.0.1:$RABBIT_MGMT_PORT"; metrics="http://127.0.0.1:$RABBIT_PROM_PORT"
      pid=$RMQ_PID; uri=$RABBIT_URI ;;
  esac
  local ui=()
  if [ "$MGMT_UI_SECONDS" -gt 0 ]; then
    ensure_browser
    ui=(--ui "$br" --ui-seconds "$MGMT_UI_SECONDS")
  fi
  wait_quiet
  local l0 l1 cmd
  l0=$(load1)
  cmd="warren-perf --uri \$URI --timeout $MGMT_DECLARE_TIMEOUT queues --count $MGMT_QUEUES --keep --pid \$PID --settle $MGMT_SETTLE"
  echo "  $br: declaring $MGMT_QUEUES queues"
  timeout -k 10 $((MGMT_DECLARE_TIMEOUT + 30)) "$PERF" --uri "$uri" --timeout "$MGMT_DECLARE_TIMEOUT" \
    queues --count "$MGMT_QUEUES" --keep --pid "$pid" --settle "$MGMT_SETTLE" \
    >"$pfx-declare.json" 2>"$pfx-declare.err" || rc=$?
  tail -n 2 "$pfx-declare.err" | sed 's/^/    /'
  timeout -k 10 $((MGMT_TIMEOUT * 4 * MGMT_REPS + 300)) python3 "$HELPER" mgmt-list --url "$url" \
    --pid "$pid" --reps "$MGMT_REPS" --timeout "$MGMT_TIMEOUT" --declare "$pfx-declare.json" \
    --declare-rc "$rc" --metrics-url "$metrics" "${ui[@]}" >"$pfx.json" 2>"$pfx.err" || true
  l1=$(load1)
  cmd=$(printf '%s\npython3 scripts/bench/report.py mgmt-list --url $MGMT_URL --pid $PID --reps %s --timeout %s' "$cmd" "$MGMT_REPS" "$MGMT_TIMEOUT")
  python3 "$HELPER" record "$RESULTS" --scenario mgmt_list --broker "$br" --round "$rd" \
    --rc 0 --cmd "$cmd" --stderr "$pfx.err" --load "$l0" --load-after "$l1" <"$pfx.json"
  [ "$br" = rabbitmq ] && rabbit_mgmt off
  restart_broker "$br" light
}

# --------------------------------------------------------------------------------------------
# main

step "bench: $( [ "$QUICK" = 1 ] && echo QUICK || echo full ) run, $ROUNDS rounds, scenarios:$SELECTED"
PORTS="$WARREN_PORT $DUR_PORT"
[ -n "$NEED_RABBIT" ] && PORTS="$PORTS $RABBIT_PORT $RABBIT_DIST_PORT"
case "$SELECTED" in *" mgmt_list "*) PORTS="$PORTS $RABBIT_MGMT_PORT $RABBIT_PROM_PORT" ;; esac
[ -n "$AB_BEFORE" ] && PORTS="$PORTS $AB_PORT"
for p in $PORTS; do
  port_free "$p" || die "port $p is in use (set WARREN_PORT / WARREN_DUR_PORT / RABBIT_PORT / RABBIT_DIST_PORT)"
done
if [ -n "$NEED_RABBIT" ]; then
  command -v setpriv >/dev/null || die "setpriv (util-linux) is needed to start RabbitMQ as the rabbitmq user"
  ensure_rabbitmq
fi

step "cargo build --release --bin warren --bin warren-perf"
cargo build --release --bin warren --bin warren-perf

make_tmp
if [ -n "$NEED_RABBIT" ]; then
  setup_rabbit_dir
  pgrep -x epmd >/dev/null 2>&1 || EPMD_WAS_RUNNING=no
  step "starting Warren (port $WARREN_PORT) and RabbitMQ ($RABBIT_NODENAME, port $RABBIT_PORT)"
elif [ -n "$AB_BEFORE" ]; then
  step "A/B: starting Warren before ($AB_BEFORE, port $AB_PORT) and after ($WARREN_BIN, port $WARREN_PORT)"
else
  step "starting Warren (port $WARREN_PORT); no RabbitMQ: only Warren-only scenarios selected"
fi
start_warren
warm_up "$WARREN_URI"
echo "warren pid $WARREN_PID, open files $(nofile_of "$WARREN_PID"); log $WARREN_LOG"
NOFILE_WARREN=$(nofile_of "$WARREN_PID")
if [ -n "$AB_BEFORE" ]; then
  start_before
  warm_up "$BEFORE_URI"
  echo "warren (before) pid $BEFORE_PID, open files $(nofile_of "$BEFORE_PID"); log $W_LOG"
fi
NOFILE_PERF=$(ulimit -n)
RABBIT_VERSION=""; RABBIT_PKG='?'; ERLANG_VERSION=""; NOFILE_RABBIT='?'
if [ -n "$NEED_RABBIT" ]; then
  start_rabbit
  warm_up "$RABBIT_URI"
  echo "rabbitmq beam.smp pid $RMQ_PID, open files $(nofile_of "$RMQ_PID"); log $LOGDIR/rabbitmq-1.log"
  RABBIT_VERSION=$(rmq_run timeout 60 "$RMQ_SBIN/rabbitmqctl" -n "$RABBIT_NODENAME" version 2>/dev/null | tail -n1 || true)
  RABBIT_PKG=$(dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null || echo '?')
  ERLANG_VERSION=$(sed -n 's/^ *Erlang: *\([^ ]*\).*/\1/p' "$LOGDIR/rabbitmq-1.log" | head -n1)
  NOFILE_RABBIT=$(nofile_of "$RMQ_PID")
fi
if [ "$QUICK" != 1 ] && [ "${NOFILE_RABBIT:-0}" != '?' ] && [ "${NOFILE_RABBIT:-0}" -lt $((CONNS + 100)) ]; then
  echo "bench: warning: RabbitMQ may open only $NOFILE_RABBIT files; $CONNS connections will not all fit"
fi

for rd in $(seq 1 "$ROUNDS"); do
  step "round $rd of $ROUNDS"
  if [ "$rd" -gt 1 ]; then
    restart_broker warren
    [ -z "$NEED_RABBIT" ] || restart_broker rabbitmq
    [ -z "$AB_BEFORE" ] || restart_broker before
  fi
  if [ -n "$AB_BEFORE" ]; then
    if [ $((rd % 2)) = 1 ]; then ORDER="before after"; else ORDER="after before"; fi
  elif [ $((rd % 2)) = 1 ]; then ORDER="warren rabbitmq"; else ORDER="rabbitmq warren"; fi
  for sc in $ALL_SCENARIOS; do
    case "$SELECTED" in *" $sc "*) ;; *) continue ;; esac
    case "$sc" in
      rawpipe|floor_*) run_one "$sc" none "$rd"; continue ;;
      restart) run_restart "$rd"; continue ;;
      paging) run_paging "$rd"; continue ;;
      mgmt_list) for br in $ORDER; do run_mgmt_list "$br" "$rd"; done; continue ;;
    esac
    for br in $ORDER; do
      if is_memory "$sc"; then restart_broker "$br" light; fi
      run_one "$sc" "$br" "$rd"
    done
  done
done

step "stopping the brokers"
stop_warren
stop_before
stop_rabbit

COMMIT=$(git --no-optional-locks -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [ -n "$(git --no-optional-locks -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  COMMIT="$COMMIT (with uncommitted changes)"
fi
{
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "quick=$QUICK"
  echo "rounds=$ROUNDS"
  echo "duration=$DURATION"
  echo "bindings=$BINDINGS"
  echo "latency_rate=$LAT_RATE"
  echo "connections=$CONNS"
  echo "queues=$QUEUES"
  echo "backlog=$BACKLOG"
  echo "restart_messages=$RESTART_MSGS"
  echo "restart_queues=$RESTART_QUEUES"
  echo "paging_messages=$PAGING_MSGS"
  echo "paging_size=$PAGING_SIZE"
  echo "paging_budget=$PAGING_BUDGET"
  echo "dur_port=$DUR_PORT"
  echo "data_fs=$(df -PT "$TMP" 2>/dev/null | awk 'NR==2 {print $2 " (" $7 ")"}')"
  echo "rabbit_version=${RABBIT_VERSION:+RabbitMQ }${RABBIT_VERSION:-?}"
  echo "rabbit_pkg=$RABBIT_PKG"
  echo "erlang=${ERLANG_VERSION:-?}"
  echo "warren_commit=$COMMIT"
  echo "rustc=$(rustc --version 2>/dev/null || echo rustc)"
  echo "nofile_warren=$NOFILE_WARREN"
  echo "nofile_rabbit=$NOFILE_RABBIT"
  echo "nofile_perf=$NOFILE_PERF"
  echo "warren_cmd=ulimit -n 65536; target/release/warren --bind 127.0.0.1 --amqp-port $WARREN_PORT --mgmt-port 0 --prometheus-port 0 --data-dir \$TMP/warren-data"
  echo "rabbit_cmd=ulimit -n 65536; cd \$DIR; env -i HOME=\$DIR RABBITMQ_NODENAME=$RABBIT_NODENAME RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=$RABBIT_PORT RABBITMQ_DIST_PORT=$RABBIT_DIST_PORT RABBITMQ_MNESIA_BASE=\$DIR/mnesia RABBITMQ_LOG_BASE=\$DIR/log RABBITMQ_PID_FILE=\$DIR/rabbitmq.pid RABBITMQ_CONFIG_FILE=\$DIR/rabbitmq.conf RABBITMQ_ENABLED_PLUGINS_FILE=\$DIR/enabled_plugins RABBITMQ_CONF_ENV_FILE=\$DIR/rabbitmq-env.conf RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}' setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups /usr/lib/rabbitmq/bin/rabbitmq-server"
  echo "rabbit_conf=$RABBIT_CONF"
  echo "results_path=${RESULTS#"$ROOT"/}"
  echo "warren_port=$WARREN_PORT"
  echo "rabbit_port=$RABBIT_PORT"
  echo "rabbit_mgmt_port=$RABBIT_MGMT_PORT"
  echo "mgmt_queues=$MGMT_QUEUES"
  echo "mgmt_reps=$MGMT_REPS"
  echo "wait_load=$WAIT_LOAD"
  echo "ab_before=${AB_BEFORE#"$ROOT"/}"
  echo "ab_before_rev=${AB_BEFORE_REV:-}"
  echo "ab_port=$AB_PORT"
  echo "scrape_every=$SCRAPE_EVERY"
  echo "warren_code_commit=$(git --no-optional-locks -C "$ROOT" log -1 --format=%h --abbrev=12 -- crates Cargo.toml Cargo.lock 2>/dev/null)"
} >"$META"

step "results (medians of $ROUNDS rounds)"
case "$BENCH_OUT" in /*) ;; *) BENCH_OUT=$ROOT/$BENCH_OUT ;; esac
if [ -n "$AB_BEFORE" ] || [ "${SPLICE:-}" = 1 ]; then
  # Only the A/B or management section is written into BENCH_OUT, the rest is left as is.
  python3 "$HELPER" splice "$RESULTS" "$META" "$BENCH_OUT"
else
  python3 "$HELPER" render "$RESULTS" "$META" "$BENCH_OUT"
fi
echo
echo "wrote $BENCH_OUT; raw results $RESULTS; logs $LOGDIR"
echo "total time $(( $(date +%s) - START_TIME )) s"
