#!/usr/bin/env bash
# Build Warren's fuzz targets (fuzz/, cargo-fuzz + libFuzzer) and run them.
#
#   scripts/fuzz.sh                  replay fuzz/regressions/, then fuzz every target
#   scripts/fuzz.sh TARGET...        the same for the named targets only
#   scripts/fuzz.sh --regressions    replay fuzz/regressions/ only
#
# Environment:
#   FUZZ_SECONDS     seconds of fuzzing per target (default 15)
#   FUZZ_SANITIZER   cargo-fuzz sanitizer: none (default; the code is safe Rust) or address
#   FUZZ_TARGET_DIR  cargo target dir for the instrumented build (default fuzz/target)
#   FUZZ_LOG_DIR     where each target's libFuzzer log goes (default $FUZZ_TARGET_DIR/fuzz-logs)
#
# Needs only the stable toolchain: cargo-fuzz is installed from crates.io if missing, and
# RUSTC_BOOTSTRAP=1 lets it pass the instrumentation flags it wants. New corpus entries go to
# fuzz/corpus/<target>/ (not committed); the committed seeds are in fuzz/seeds/<target>/.
# A crash leaves its input in fuzz/artifacts/<target>/: minimise it
# (`RUSTC_BOOTSTRAP=1 cargo fuzz tmin -s none TARGET FILE`) and keep it under fuzz/regressions/<target>/
# Exits non-zero if any target crashed or any regression input fails.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

CARGO_FUZZ_VERSION=0.13.2
TARGETS_ALL=(frame_split method_decode field_table content_header connection store_record store_recovery definitions mgmt_request dead_letter cert_subject)
SECONDS_EACH=${FUZZ_SECONDS:-15}
SANITIZER=${FUZZ_SANITIZER:-none}
TARGET_DIR=${FUZZ_TARGET_DIR:-$ROOT/fuzz/target}
LOG_DIR=${FUZZ_LOG_DIR:-$TARGET_DIR/fuzz-logs}
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
BIN_DIR=$TARGET_DIR/$TRIPLE/release

step() { printf '\n==> %s\n' "$*"; }

mode=fuzz
targets=()
for arg in "$@"; do
  case $arg in
    --regressions) mode=regressions ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) targets+=("$arg") ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${TARGETS_ALL[@]}")
for t in "${targets[@]}"; do
  [ -f "fuzz/fuzz_targets/$t.rs" ] || { echo "no fuzz target '$t'" >&2; exit 2; }
done

if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  step "installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

step "building fuzz targets (sanitizer: $SANITIZER)"
RUSTC_BOOTSTRAP=1 cargo fuzz build --sanitizer "$SANITIZER" --target-dir "$TARGET_DIR"

failed=()
mkdir -p "$LOG_DIR"

step "replaying fuzz/regressions/"
for t in "${targets[@]}"; do
  dir=fuzz/regressions/$t
  files=()
  [ -d "$dir" ] && while IFS= read -r -d '' f; do files+=("$f"); done \
    < <(find "$dir" -type f ! -name '*.md' -print0 | sort -z)
  [ ${#files[@]} -gt 0 ] || continue
  # Every input is followed by a check that the broker still opens and closes a connection.
  if WARREN_FUZZ_CHECK_EVERY=1 "$BIN_DIR/$t" "${files[@]}" >"$LOG_DIR/$t.regressions.log" 2>&1; then
    printf '%-16s %3d inputs ok\n' "$t" "${#files[@]}"
  else
    printf '%-16s FAILED: see %s\n' "$t" "$LOG_DIR/$t.regressions.log"
    grep -m1 -A3 'panicked at\|ERROR: libFuzzer' "$LOG_DIR/$t.regressions.log" || true
    failed+=("$t (regression)")
  fi
done

if [ "$mode" = fuzz ]; then
  step "fuzzing ${#targets[@]} targets, ${SECONDS_EACH}s each"
  printf '%-16s %8s %12s %8s %8s  %s\n' target seconds execs exec/s corpus result
  for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    log=$LOG_DIR/$t.log
    started=$(date +%s)
    # -timeout: one input running this long is a hang (generous: the machine may be busy).
    if "$BIN_DIR/$t" "fuzz/corpus/$t" "fuzz/seeds/$t" \
        -max_total_time="$SECONDS_EACH" -timeout=60 -rss_limit_mb=4096 \
        -artifact_prefix="fuzz/artifacts/$t/" -print_final_stats=1 >"$log" 2>&1; then
      result=ok
    else
      result="CRASH: see $log and fuzz/artifacts/$t/"
      failed+=("$t")
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    took=$(( $(date +%s) - started ))
    corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
    printf '%-16s %8d %12s %8s %8d  %s\n' "$t" "$took" "${execs:-?}" \
      "$(( ${execs:-0} / (took > 0 ? took : 1) ))" "$corpus" "$result"
    [ "$result" = ok ] || grep -m1 -A3 'panicked at\|ERROR: libFuzzer' "$log" || true
  done
fi

if [ ${#failed[@]} -gt 0 ]; then
  printf '\nfuzz: failed: %s\n' "${failed[*]}"
  exit 1
fi
printf '\nfuzz: no crashes\n'
