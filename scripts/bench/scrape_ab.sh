#!/usr/bin/env bash
# Does Prometheus scraping move the hot path? One release build of this checkout started
# twice, in alternation: "after" has /metrics/per-object fetched every SCRAPE_EVERY (5) s for
# the whole of each run, "before" is not scraped. Writes the "Hot path while Prometheus
# scrapes" section of BENCH_OUT (BENCHMARKS.md). Everything else as scripts/bench.sh's A/B
# mode: SCENARIOS (default t16_autoack t16_ack t1k_4x4 fanout10 topic10k persistent latency
# connections), ROUNDS (3), WAIT_LOAD (0.6).
set -euo pipefail
cd "$(dirname "$0")/../.."
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release --bin warren --bin warren-perf
# A copy, so the two processes are told apart in the logs.
cp "$TARGET/release/warren" "$TARGET/release/warren-unscraped"
AB_BEFORE=$TARGET/release/warren-unscraped AB_BEFORE_REV="the same build, not scraped" \
  SCRAPE_EVERY=${SCRAPE_EVERY:-5} exec scripts/bench.sh
