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

die() { printf 'rabbitmq.sh: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# shellcheck source=../lib/rabbitmq-node.sh
. "$(dirname "$0")/../lib/rabbitmq-node.sh"
rmq_node_env "$RMQ_DIR" "$RABBIT_NODENAME" "$RABBIT_PORT" "$RABBIT_DIST_PORT"

start() {
  rmq_ensure_installed
  port_open "$RABBIT_PORT" && die "port $RABBIT_PORT is already in use"
  rmq_write_files "$(printf 'listeners.tcp.1 = 127.0.0.1:%s\nlisteners.tcp.2 = ::1:%s' "$RABBIT_PORT" "$RABBIT_PORT")"
  rmq_start "$RMQ_DIR/server.out" "$RABBIT_PORT"
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
