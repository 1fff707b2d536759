#!/usr/bin/env bash
# Runs the unit tests of the pure crates, and the queue's behaviour suite, under Miri, which
# reports undefined behaviour in them and in what they call (crossbeam, parking_lot,
# hdrhistogram). Miri ships with nightly Rust only: when the nightly toolchain or its miri
# component is missing and cannot be added, this says so and skips rather than failing the
# build. Left out: the codec crate, which calls C libraries (libdeflate, zstd) that Miri cannot
# execute; the cache and rate-limit crates, which forbid unsafe code and have no unit tests
# (their integration suites take many minutes each under Miri, so they run natively only).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo +nightly miri --version >/dev/null 2>&1; then
  rustup component add --toolchain nightly miri >/dev/null 2>&1 || true
fi
if ! cargo +nightly miri --version >/dev/null 2>&1; then
  echo "miri.sh: skipped: no nightly toolchain with the miri component here (rustup component add --toolchain nightly miri)" >&2
  exit 0
fi

# Deterministic floats: hdrhistogram sizes its counters with log2, which Miri otherwise
# perturbs on purpose; the histogram tests compare exact sizes.
export MIRIFLAGS="-Zmiri-deterministic-floats"
export CARGO_TARGET_DIR=target/miri
cargo +nightly miri test --lib -p optlayer-registry -p optlayer-queue -p optlayer-stats -p optlayer-clock
# The queue's behaviour suite drives its lock-free levels and admission counters (bounded
# under cfg(miri); seconds).
cargo +nightly miri test -p optlayer-queue --test queue
