#!/usr/bin/env bash
# Start or stop a private RabbitMQ node (Debian's rabbitmq-server) for the conformance runs.
#
#   scripts/conformance/rabbitmq.sh start   install rabbitmq-server if missing, start the node
#   scripts/conformance/rabbitmq.sh stop    stop it (rabbitmqctl stop)
#   scripts/conformance/rabbitmq.sh status
#
# Same approach as scripts/bench.sh: own node name, ports and data dir (a default node on 5672
# is left alone), run as the rabbitmq user through setpriv. It listens on 127.0.0.1 and ::1
# (amqplib's connect tests include an IPv6 one).
#
# Environment: RABBIT_PORT=5674 RABBIT_DIST_PORT=25674 RABBIT_NODENAME=conf@localhost
#              RMQ_DIR=/tmp/rmq-conf
set -euo pipefail

RABBIT_PORT=${RABBIT_PORT:-5674}
RABBIT_DIST_PORT=${RABBIT_DIST_PORT:-25674}
RABBIT_NODENAME=${RABBIT_NODENAME:-conf@localhost}
RMQ_DIR=${RMQ_DIR:-/tmp/rmq-conf}
RMQ_SBIN=/usr/lib/rabbitmq/bin

die() { printf 'rabbitmq.sh: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

RMQ_ENV=(
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
  HOME="$RMQ_DIR" LANG=C.UTF-8 LC_ALL=C.UTF-8
  RABBITMQ_NODENAME="$RABBIT_NODENAME"
  RABBITMQ_NODE_PORT="$RABBIT_PORT"
  RABBITMQ_DIST_PORT="$RABBIT_DIST_PORT"
  RABBITMQ_MNESIA_BASE="$RMQ_DIR/mnesia"
  RABBITMQ_LOG_BASE="$RMQ_DIR/log"
  RABBITMQ_PID_FILE="$RMQ_DIR/rabbitmq.pid"
  RABBITMQ_CONFIG_FILE="$RMQ_DIR/rabbitmq.conf"
  RABBITMQ_ENABLED_PLUGINS_FILE="$RMQ_DIR/enabled_plugins"
  RABBITMQ_CONF_ENV_FILE="$RMQ_DIR/rabbitmq-env.conf"
  "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}"
)

rmq_run() {
  as_root sh -c 'cd "$1" || exit 1; shift; ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"' \
    sh "$RMQ_DIR" env -i "${RMQ_ENV[@]}" setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups "$@"
}

start() {
  if [ ! -x "$RMQ_SBIN/rabbitmq-server" ] || ! id rabbitmq >/dev/null 2>&1; then
    as_root apt-get update
    # policy-rc.d usually denies the service start in containers; stop it anyway if it started.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y rabbitmq-server
    as_root service rabbitmq-server stop >/dev/null 2>&1 || true
  fi
  port_open "$RABBIT_PORT" && die "port $RABBIT_PORT is already in use"
  mkdir -p "$RMQ_DIR/mnesia" "$RMQ_DIR/log"
  echo '[].' >"$RMQ_DIR/enabled_plugins"
  cat >"$RMQ_DIR/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:$RABBIT_PORT
listeners.tcp.2 = ::1:$RABBIT_PORT
EOF
  : >"$RMQ_DIR/rabbitmq-env.conf"
  as_root chown -R rabbitmq:rabbitmq "$RMQ_DIR"
  as_root rm -f "$RMQ_DIR/rabbitmq.pid"
  rmq_run "$RMQ_SBIN/rabbitmq-server" >"$RMQ_DIR/server.out" 2>&1 &
  local bg=$! i
  for i in $(seq 1 1200); do
    if port_open "$RABBIT_PORT" && [ -s "$RMQ_DIR/rabbitmq.pid" ]; then break; fi
    kill -0 "$bg" 2>/dev/null || { tail -n 40 "$RMQ_DIR/server.out" >&2; die "RabbitMQ exited during start"; }
    sleep 0.1
  done
  port_open "$RABBIT_PORT" || die "RabbitMQ did not open port $RABBIT_PORT"
  rmq_run timeout 60 "$RMQ_SBIN/rabbitmqctl" -n "$RABBIT_NODENAME" await_startup >/dev/null 2>&1 || true
  echo "RabbitMQ $RABBIT_NODENAME up: amqp://guest:guest@127.0.0.1:$RABBIT_PORT (pid $(cat "$RMQ_DIR/rabbitmq.pid" 2>/dev/null), logs $RMQ_DIR/log)"
}

stop() {
  rmq_run timeout 60 "$RMQ_SBIN/rabbitmqctl" -n "$RABBIT_NODENAME" stop >/dev/null 2>&1 || true
  local pid i
  pid=$(cat "$RMQ_DIR/rabbitmq.pid" 2>/dev/null | tr -dc '0-9' || true)
  if [ -n "$pid" ]; then
    for i in $(seq 1 300); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
    [ -d "/proc/$pid" ] && as_root kill -TERM "$pid" 2>/dev/null || true
  fi
  echo "RabbitMQ $RABBIT_NODENAME stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) rmq_run timeout 60 "$RMQ_SBIN/rabbitmqctl" -n "$RABBIT_NODENAME" status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
