#!/usr/bin/env bash
# A/B of Warren's hot path: the same warren-perf scenarios against a release build of an
# earlier commit (before) and of this checkout (after), in alternation, for ROUNDS rounds;
# medians, after/before and the rounds' spread go into the "A/B" section of BENCHMARKS.md
# (only that section is rewritten).
#
#   scripts/bench/ab.sh [BEFORE_REV]     default 88aaff3 (before the control-plane work)
#
# The before commit is checked out in a worktree of its own (AB_DIR, default
# $TMPDIR/warren-ab-REV; an existing one is reused) and built with its own target dir
# (AB_TARGET, default AB_DIR-target). Everything else is scripts/bench.sh
# with AB_BEFORE set: SCENARIOS (default t16_autoack t16_ack t1k_4x4 fanout10 topic10k
# persistent latency connections), ROUNDS (3), WAIT_LOAD (0.6: before each run, wait until
# the 1-minute load is below it; polled every LOAD_POLL=30 s, at most LOAD_WAIT_MAX=2700 s),
# AB_PORT (5695, the before binary's AMQP port), BENCH_OUT.
set -euo pipefail
cd "$(dirname "$0")/../.."
REV=${1:-88aaff3}
SHORT=$(git rev-parse --short=12 "$REV^{commit}")
BASE=${AB_DIR:-${TMPDIR:-/tmp}/warren-ab-$SHORT}
TARGET=${AB_TARGET:-$BASE-target}
if [ ! -d "$BASE" ]; then
  git worktree add --detach "$BASE" "$SHORT"
fi
[ "$(git -C "$BASE" rev-parse --short=12 HEAD)" = "$SHORT" ] || {
  echo "ab: $BASE is not at $SHORT" >&2; exit 1; }
echo "==> building $SHORT in $BASE"
(cd "$BASE" && CARGO_TARGET_DIR=$TARGET cargo build --release --bin warren)
AB_BEFORE=$TARGET/release/warren AB_BEFORE_REV=$SHORT exec scripts/bench.sh
