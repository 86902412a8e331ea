#!/usr/bin/env bash
# TLS next to plain TCP: the same warren-perf throughput scenarios against Warren and
# RabbitMQ, each over its AMQP and its AMQPS listener (certificates made here with openssl),
# in alternating rounds. Writes the "TLS next to plain TCP" section of BENCH_OUT
# (BENCHMARKS.md; only that section is rewritten).
#
#   scripts/bench/tls.sh
#
# Environment: ROUNDS (2), DURATION (10 s per run), SCENARIOS (t16_ack t1k_ack), BENCH_OUT,
# ports WARREN_PORT (5693) / WARREN_TLS_PORT (5694) / RABBIT_PORT (5692) / RABBIT_TLS_PORT
# (5695) / RABBIT_DIST_PORT (25692). Both ends of every TLS connection do real TLS: the
# client's crypto shares the machine's cores with the broker's, as it would in one box.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-10}
SCENARIOS=${SCENARIOS:-t16_ack t1k_ack}
BENCH_OUT=${BENCH_OUT:-$ROOT/BENCHMARKS.md}
WARREN_PORT=${WARREN_PORT:-5693}
WARREN_TLS_PORT=${WARREN_TLS_PORT:-5694}
RABBIT_PORT=${RABBIT_PORT:-5692}
RABBIT_TLS_PORT=${RABBIT_TLS_PORT:-5695}
RABBIT_DIST_PORT=${RABBIT_DIST_PORT:-25692}
RABBIT_NODENAME=warrentls@localhost
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'bench-tls: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
# shellcheck source=../lib/rabbitmq-node.sh
. scripts/lib/rabbitmq-node.sh

TMP=$(mktemp -d /tmp/warren-bench-tls.XXXXXX)
chmod 755 "$TMP"
W_PID=""
RMQ_UP=""
cleanup() {
  [ -n "$W_PID" ] && kill "$W_PID" 2>/dev/null && wait "$W_PID" 2>/dev/null
  if [ -n "$RMQ_UP" ]; then
    rmq_run timeout 60 "$RMQ_SBIN/rabbitmqctl" -n "$RABBIT_NODENAME" stop >/dev/null 2>&1 || true
  fi
  as_root rm -rf "$TMP"
}
trap cleanup EXIT

scenario_args() {
  case "$1" in
    t16_ack) echo "throughput --producers 1 --consumers 1 --queues 1 --size 16 --duration $DURATION --prefetch 1000" ;;
    t1k_ack) echo "throughput --producers 1 --consumers 1 --queues 1 --size 1024 --duration $DURATION --prefetch 1000" ;;
    *) die "unknown scenario $1" ;;
  esac
}

step "cargo build --release --bin warren --bin warren-perf"
cargo build --release --bin warren --bin warren-perf
rmq_ensure_installed

step "certificates (openssl): a CA and a server certificate for 127.0.0.1"
PKI=$TMP/pki
mkdir -p "$PKI"
(
  cd "$PKI"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=bench-ca 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 \
    -copy_extensions copy 2>/dev/null
  chmod 644 ./*
)

step "starting Warren (AMQP $WARREN_PORT, AMQPS $WARREN_TLS_PORT)"
printf 'ssl_options.certfile = %s\nssl_options.keyfile = %s\n' "$PKI/server.pem" "$PKI/server.key" >"$TMP/warren.conf"
mkdir -p "$TMP/warren-data"
"$TARGET/release/warren" --config "$TMP/warren.conf" --bind 127.0.0.1 --amqp-port "$WARREN_PORT" \
  --amqps-port "$WARREN_TLS_PORT" --mgmt-port 0 --prometheus-port 0 --data-dir "$TMP/warren-data" \
  >"$TMP/warren.log" 2>&1 &
W_PID=$!

step "starting RabbitMQ ($RABBIT_NODENAME, AMQP $RABBIT_PORT, AMQPS $RABBIT_TLS_PORT)"
rmq_node_env "$TMP/rabbitmq" "$RABBIT_NODENAME" "$RABBIT_PORT" "$RABBIT_DIST_PORT"
rmq_write_files "listeners.tcp.default = 127.0.0.1:$RABBIT_PORT
listeners.ssl.default = 127.0.0.1:$RABBIT_TLS_PORT
ssl_options.cacertfile = $PKI/ca.pem
ssl_options.certfile = $PKI/server.pem
ssl_options.keyfile = $PKI/server.key
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false"
rmq_start "$TMP/rabbitmq.log" "$RABBIT_PORT"
RMQ_UP=1
RMQ_PID=$(as_root cat "$RMQ_DIR/rabbitmq.pid" | tr -dc '0-9')
for i in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$WARREN_TLS_PORT") 2>/dev/null && break
  sleep 0.1
done

# cpu_ticks PID: user+system clock ticks so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

RESULTS=$TMP/results.jsonl
: >"$RESULTS"
export WARREN_PERF_TLS_CA=$PKI/ca.pem
for round in $(seq 1 "$ROUNDS"); do
  step "round $round of $ROUNDS"
  for scenario in $SCENARIOS; do
    for broker in warren rabbitmq; do
      for transport in plain tls; do
        case "$broker/$transport" in
          warren/plain) uri="amqp://guest:guest@127.0.0.1:$WARREN_PORT/%2f"; pid=$W_PID ;;
          warren/tls) uri="amqps://guest:guest@127.0.0.1:$WARREN_TLS_PORT/%2f"; pid=$W_PID ;;
          rabbitmq/plain) uri="amqp://guest:guest@127.0.0.1:$RABBIT_PORT/%2f"; pid=$RMQ_PID ;;
          rabbitmq/tls) uri="amqps://guest:guest@127.0.0.1:$RABBIT_TLS_PORT/%2f"; pid=$RMQ_PID ;;
        esac
        # shellcheck disable=SC2046
        t0=$(cpu_ticks "$pid")
        out=$("$TARGET/release/warren-perf" --uri "$uri" $(scenario_args "$scenario") 2>/dev/null | tail -n 1)
        t1=$(cpu_ticks "$pid")
        printf '%s\n' "$out" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
r.update(scenario=sys.argv[1], broker=sys.argv[2], transport=sys.argv[3], cpu_ticks=int(sys.argv[4]))
print(json.dumps(r))' "$scenario" "$broker" "$transport" "$((t1 - t0))" >>"$RESULTS"
        python3 -c '
import json, sys
r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
rate = r.get("consumed_per_s") or 0
print("  %-9s %-5s %-8s delivered %12s msg/s (lost %s, reordered %s)" % (r["broker"], r["transport"], r["scenario"], format(rate, ",.0f"), r["lost"], r["reordered"]))' "$RESULTS"
      done
    done
  done
done

step "writing the TLS section of $BENCH_OUT"
COMMIT=$(git rev-parse --short=12 HEAD)
python3 - "$RESULTS" "$BENCH_OUT" "$COMMIT" "$ROUNDS" "$DURATION" <<'PY'
import json, statistics, subprocess, sys, datetime
results, out, commit, rounds, duration = sys.argv[1:6]
rows = [json.loads(l) for l in open(results)]
bad = [r for r in rows if r["lost"] or r["reordered"] or r["duplicates"]]
if bad:
    sys.exit(f"runs lost, reordered or duplicated messages: {[(r['broker'], r['transport'], r['scenario']) for r in bad]}")
hz = int(subprocess.run(["getconf", "CLK_TCK"], capture_output=True, text=True).stdout.strip() or 100)
def med(scenario, broker, transport, key):
    vals = [r for r in rows if (r["scenario"], r["broker"], r["transport"]) == (scenario, broker, transport)]
    if key == "rate":
        xs = [r.get("consumed_per_s") or 0 for r in vals]
    else:  # broker CPU per delivered message, ns
        xs = [r["cpu_ticks"] / hz * 1e9 / max(r.get("consumed") or 1, 1) for r in vals]
    return statistics.median(xs), xs
names = {"t16_ack": "1 → 1 → 1, 16 B, manual ack (prefetch 1000)",
         "t1k_ack": "1 → 1 → 1, 1 KiB, manual ack (prefetch 1000)"}
lines = ["<!-- tls:begin -->", "", "## TLS next to plain TCP", "",
         f"Measured on {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, Warren at commit {commit} (release build) against RabbitMQ "
         f"{subprocess.run(['dpkg-query', '-W', '-f=${Version}', 'rabbitmq-server'], capture_output=True, text=True).stdout.strip()}, "
         f"{rounds} rounds of {duration} s; median, then every round. warren-perf (rustls) is the client on both listeners; "
         "rustls offers TLS 1.3 and 1.2 with its default cipher suites; certificates made with openssl (RSA 2048). "
         "The client's own encryption runs on the same two cores as the broker's.", "",
         "| scenario | broker | figure | plain TCP | TLS | TLS / plain |", "|---|---|---|---:|---:|---:|"]
for scenario in dict.fromkeys(r["scenario"] for r in rows):
    for broker in ("warren", "rabbitmq"):
        for key, label, unit in (("rate", "delivered", "msg/s"), ("cpu", "broker CPU per delivered message", "ns")):
            p, ps = med(scenario, broker, "plain", key)
            t, ts = med(scenario, broker, "tls", key)
            fmt = lambda v: f"{v:,.0f} {unit}"
            lines.append(f"| {names.get(scenario, scenario)} | {'Warren' if broker == 'warren' else 'RabbitMQ'} | {label} | "
                         f"**{fmt(p)}** ({' / '.join(fmt(x) for x in ps)}) | **{fmt(t)}** ({' / '.join(fmt(x) for x in ts)}) | {t / p:.2f}× |")
    wt, _ = med(scenario, "warren", "tls", "rate")
    rt, _ = med(scenario, "rabbitmq", "tls", "rate")
    lines.append(f"| {names.get(scenario, scenario)} | Warren / RabbitMQ over TLS | delivered | | | {wt / rt:.1f}× |")
lines += ["", "How: `scripts/bench/tls.sh` (ROUNDS, DURATION, SCENARIOS); the client trusts the bench CA through "
          "`WARREN_PERF_TLS_CA` and connects to `amqps://guest:guest@127.0.0.1:PORT/%2f`. Every run finished with nothing lost, "
          "reordered or duplicated (the script refuses to write the section otherwise).", "",
          "<!-- tls:end -->"]
section = "\n".join(lines) + "\n"
text = open(out).read()
if "<!-- tls:begin -->" in text:
    start = text.index("<!-- tls:begin -->")
    end = text.index("<!-- tls:end -->") + len("<!-- tls:end -->\n")
    text = text[:start] + section + text[end:]
else:
    text = text.rstrip("\n") + "\n\n" + section
open(out, "w").write(text)
print(section)
PY
