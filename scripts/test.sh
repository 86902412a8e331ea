#!/usr/bin/env bash
# Run every Warren test: formatting, lints, Rust unit and integration tests (real broker
# binary + lapin + raw frames), amqplib's and amqp091-go's own test suites and the Python suites
# (pika, celery) against the real binary. Installs what it needs: Python packages into ./.venv,
# Debian packages with apt-get (RabbitMQ, Chromium, Prometheus), npm packages under /tmp/warren-conformance
# and tests/ui/node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

step() { printf '\n==> %s\n' "$*"; }

step "python venv (.venv)"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -r tests/python/requirements.txt

step "cargo fmt --check"
cargo fmt --all -- --check

step "module layering (no two modules of a crate import each other)"
bash scripts/check-module-cycles.sh

step "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "cargo build"
cargo build --workspace --bins --quiet

step "cargo test"
cargo test --workspace --quiet 2>&1 | tee "$TARGET_DIR/cargo-test.log"

step "warrenctl's tests against a running warren (rabbitmqctl's verbs over the management API)"
ctl_dir=$(mktemp -d)
"$TARGET_DIR/debug/warren" --bind 127.0.0.1 --amqp-port 0 --mgmt-port 0 --prometheus-port 0 --data-dir "$ctl_dir/data" >"$ctl_dir/log" 2>&1 &
ctl_pid=$!
ctl_port=
for _ in $(seq 1 300); do
  ctl_port=$(grep -oE 'listening management [^ ]+' "$ctl_dir/log" | grep -oE '[0-9]+$' || true)
  [ -n "$ctl_port" ] && break
  sleep 0.1
done
[ -n "$ctl_port" ] || { cat "$ctl_dir/log"; kill "$ctl_pid"; exit 1; }
WARRENCTL_TEST_URL="http://127.0.0.1:$ctl_port" cargo test -p warrenctl --quiet -- --ignored
kill "$ctl_pid"; wait "$ctl_pid" || true
rm -rf "$ctl_dir"

step "fuzzing: every input that once found a bug, then 10 s per target (scripts/fuzz.sh)"
# Installs cargo-fuzz from crates.io when missing; builds with RUSTC_BOOTSTRAP=1 on stable.
FUZZ_TARGET_DIR="$TARGET_DIR/fuzz" FUZZ_SECONDS=${FUZZ_SECONDS:-10} bash scripts/fuzz.sh

step "warren-perf smoke run against warren (loss and order checked)"
bash scripts/bench.sh --smoke

step "5-minute soak: 10,000-connection rounds, channel and queue churn, a confirmed stream; RSS and open files must stay flat"
SOAK_SECONDS=300 SOAK_PROFILE=debug SOAK_REPORT=0 bash scripts/bench.sh --soak

step "third-party client suites (amqplib 2.2.0, amqp091-go 1.5.0, kombu 5.7.0) against warren"
# Installs node/npm and Debian's golang-go + amqp091-go sources when missing.
bash scripts/conformance/against-warren.sh "$TARGET_DIR/debug/warren"

step "web UI in headless Chromium (playwright-core), screenshots in tests/ui/artifacts"
bash scripts/ui-test.sh "$TARGET_DIR/debug/warren"

step "python tests (pika, celery, a real Prometheus for the Grafana dashboard, AMQPS with an openssl-made PKI) against $TARGET_DIR/debug/warren"
# shellcheck source=lib/apt.sh
. scripts/lib/apt.sh
command -v prometheus >/dev/null || apt_install prometheus
command -v openssl >/dev/null || apt_install openssl
WARREN_BIN="$TARGET_DIR/debug/warren" .venv/bin/pytest -q -p no:cacheprovider tests/python
