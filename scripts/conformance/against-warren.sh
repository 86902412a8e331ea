#!/usr/bin/env bash
# Run the third-party client suites (run.sh) against a Warren binary of its own: a fresh data
# dir, a free port, `--server-product RabbitMQ` so the suites run their RabbitMQ-specific
# tests too. Exit status is run.sh's.
#
#   scripts/conformance/against-warren.sh PATH/TO/warren
set -uo pipefail
BIN=${1:?usage: $0 PATH/TO/warren}
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=$(mktemp -d)
LOG=$DATA/warren.log
# The default bind (::) so that amqplib's IPv6 test reaches it on ::1; only loopback is used.
"$BIN" --amqp-port 0 --mgmt-port 0 --prometheus-port 0 --data-dir "$DATA/data" \
  --server-product RabbitMQ >"$LOG" 2>&1 &
PID=$!
trap 'kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; rm -rf "$DATA"' EXIT
PORT=""
for _ in $(seq 100); do
  PORT=$(sed -n 's/.*listening amqp .*:\([0-9][0-9]*\)$/\1/p' "$LOG" | head -n 1)
  [ -n "$PORT" ] && break
  kill -0 "$PID" 2>/dev/null || { cat "$LOG"; echo "warren did not start" >&2; exit 1; }
  sleep 0.1
done
[ -n "$PORT" ] || { cat "$LOG"; echo "warren did not report its port" >&2; exit 1; }
OUT=$DATA/results bash "$HERE/run.sh" "amqp://guest:guest@127.0.0.1:$PORT"
