#!/usr/bin/env bash
# Runs every cargo-fuzz target of the codec crate (fuzz/) for a bounded time and fails
# if any of them finds a crash. Usage: scripts/fuzz.sh [seconds-per-target] (default 8).
# FUZZ_PROFILE=dev builds the targets unoptimised: under a minute on its own against the
# release build's several (13m46s beside the test command's other phases on this 2-core
# kind of machine), at about a tenth of the executions a second; the test command uses it,
# a longer run by hand should not. Default: release (cargo-fuzz's own, with debug assertions).
#
# cargo-fuzz passes unstable -Z flags (sanitizer, coverage); the toolchain here is
# stable, and RUSTC_BOOTSTRAP=1 lets it accept them. Seeds are made fresh by our own
# encoder (the fuzz_seeds example); the corpus and any crash artifacts stay under fuzz/,
# ignored by git.
set -euo pipefail

seconds="${1:-8}"
case "$seconds" in
  ''|*[!0-9]*) echo "fuzz.sh: seconds per target must be a whole number, got '$seconds'" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
export RUSTC_BOOTSTRAP=1
case "${FUZZ_PROFILE:-release}" in
  release) profile=() ;;
  dev) profile=(--dev) ;;
  *) echo "fuzz.sh: FUZZ_PROFILE must be release or dev, got '$FUZZ_PROFILE'" >&2; exit 2 ;;
esac

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz (about a minute)" >&2
  cargo install cargo-fuzz --locked
fi

# The targets are built before the seeds: the seed example builds in the main target dir,
# which `npm test` holds for clippy and the Rust tests while this script runs in the background
# (scripts/test.sh), and the fuzz build needs none of it.
#
# AddressSanitizer stays on for every target: snap, brotli-decompressor and zlib-rs decode with
# unsafe Rust of their own, which it instruments.
(cd fuzz && cargo fuzz build "${profile[@]}")
cargo run --quiet -p optlayer-codec --example fuzz_seeds -- fuzz/corpus

cd fuzz
# libFuzzer runs each target as one single-threaded process: as many at once as there are
# cores (the targets are already built, so their `cargo fuzz run`s only check that).
rm -f target/fuzz-failed
cargo fuzz list | xargs -P "$(nproc 2>/dev/null || echo 1)" -I{} sh -c '
  echo "fuzz.sh: $1 for $2s" >&2
  cargo fuzz run $3 "$1" -- -max_total_time="$2" -rss_limit_mb=2048 -print_final_stats=0 >"target/fuzz-$1.log" 2>&1 ||
    echo "$1" >>target/fuzz-failed' sh {} "$seconds" "${profile[*]:-}"
failed=()
if [ -f target/fuzz-failed ]; then
  mapfile -t failed <target/fuzz-failed
  for target in "${failed[@]}"; do
    tail -n 40 "target/fuzz-$target.log" >&2
  done
fi

if [ "${#failed[@]}" -ne 0 ]; then
  echo "fuzz.sh: crashes in ${failed[*]} (inputs under fuzz/artifacts/, logs in fuzz/target/)" >&2
  exit 1
fi
echo "fuzz.sh: no crash in $(cargo fuzz list | wc -l) targets" >&2
