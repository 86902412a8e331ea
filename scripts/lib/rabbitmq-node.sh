# A private RabbitMQ node from Debian's rabbitmq-server, for comparisons: its own node name,
# ports and data dir (a default node on 5672 is left alone), run as the rabbitmq user through
# setpriv. Sourced by scripts/bench.sh and scripts/conformance/rabbitmq.sh; they define
# `as_root` and `die` first.

# shellcheck source=apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

RMQ_SBIN=/usr/lib/rabbitmq/bin

# Install rabbitmq-server when missing; a service the package starts is stopped again.
rmq_ensure_installed() {
  if [ -x "$RMQ_SBIN/rabbitmq-server" ] && id rabbitmq >/dev/null 2>&1; then
    return 0
  fi
  apt_install rabbitmq-server
  as_root service rabbitmq-server stop >/dev/null 2>&1 || true
  [ -x "$RMQ_SBIN/rabbitmq-server" ] || die "rabbitmq-server is not installed at $RMQ_SBIN"
}

# rmq_node_env DIR NODENAME PORT DIST_PORT: set RMQ_DIR, RMQ_NODENAME and the environment
# rmq_run uses for this node.
rmq_node_env() {
  RMQ_DIR=$1 RMQ_NODENAME=$2
  RMQ_ENV=(
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    HOME="$RMQ_DIR" LANG=C.UTF-8 LC_ALL=C.UTF-8
    RABBITMQ_NODENAME="$RMQ_NODENAME"
    RABBITMQ_NODE_PORT="$3"
    RABBITMQ_DIST_PORT="$4"
    RABBITMQ_MNESIA_BASE="$RMQ_DIR/mnesia"
    RABBITMQ_LOG_BASE="$RMQ_DIR/log"
    RABBITMQ_PID_FILE="$RMQ_DIR/rabbitmq.pid"
    RABBITMQ_CONFIG_FILE="$RMQ_DIR/rabbitmq.conf"
    RABBITMQ_ENABLED_PLUGINS_FILE="$RMQ_DIR/enabled_plugins"
    RABBITMQ_CONF_ENV_FILE="$RMQ_DIR/rabbitmq-env.conf"
    "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}"
  )
}

# rmq_write_files CONF: the node's files under RMQ_DIR, CONF being its rabbitmq.conf.
rmq_write_files() {
  mkdir -p "$RMQ_DIR/mnesia" "$RMQ_DIR/log"
  echo '[].' >"$RMQ_DIR/enabled_plugins"
  printf '%s\n' "$1" >"$RMQ_DIR/rabbitmq.conf"
  : >"$RMQ_DIR/rabbitmq-env.conf" # instead of /etc/rabbitmq/rabbitmq-env.conf
  as_root chown -R rabbitmq:rabbitmq "$RMQ_DIR"
}

# Run a RabbitMQ program as the rabbitmq user with this node's environment. setpriv does not go
# through PAM (unlike Debian's su wrapper, whose limits cap open files at 1024), so the raised
# open-file limit set just before reaches beam.smp.
rmq_run() {
  as_root sh -c 'cd "$1" || exit 1; shift; ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"' \
    sh "$RMQ_DIR" env -i "${RMQ_ENV[@]}" setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups "$@"
}

# rmq_start LOG PORT: start the node in the background (RMQ_BG_PID) and wait until it serves.
rmq_start() {
  local log=$1 port=$2 i
  as_root rm -f "$RMQ_DIR/rabbitmq.pid"
  rmq_run "$RMQ_SBIN/rabbitmq-server" >"$log" 2>&1 &
  RMQ_BG_PID=$!
  for i in $(seq 1 1200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && [ -s "$RMQ_DIR/rabbitmq.pid" ]; then break; fi
    kill -0 "$RMQ_BG_PID" 2>/dev/null || { tail -n 40 "$log" >&2; die "RabbitMQ exited during start (log: $log)"; }
    sleep 0.1
  done
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { tail -n 40 "$log" >&2; die "RabbitMQ did not open port $port in 120 s"; }
  rmq_run timeout 60 "$RMQ_SBIN/rabbitmqctl" -n "$RMQ_NODENAME" await_startup >/dev/null 2>&1 || true
}
