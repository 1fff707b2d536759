#!/usr/bin/env bash
# The whole test command (`npm test`): build, lint, reference tools, Rust
# tests and loom models, TypeScript and Redis specs, fuzzing, packaging. Phases run one after another and
# their durations are printed at the end, also when a phase fails, so a slow phase is seen.
set -uo pipefail
cd "$(dirname "$0")/.."

names=()
seconds=()
started=$SECONDS

summary() {
  local status=$?
  echo
  echo "test phases (seconds):"
  for i in "${!names[@]}"; do
    printf '  %-10s %5d\n' "${names[$i]}" "${seconds[$i]}"
  done
  printf '  %-10s %5d\n' total $((SECONDS - started))
  exit "$status"
}
trap summary EXIT

phase() {
  local name=$1
  shift
  local start=$SECONDS
  echo "== test phase: $name" >&2
  "$@"
  local status=$?
  names+=("$name")
  seconds+=($((SECONDS - start)))
  if [ "$status" -ne 0 ]; then
    echo "test phase '$name' failed (exit $status)" >&2
    exit "$status"
  fi
}

phase build npm run --silent build
phase lint npm run --silent lint
phase tools bash -c 'bash scripts/ensure-codec-tools.sh && bash scripts/ensure-monitoring-tools.sh && bash scripts/ensure-redis.sh && bash scripts/ensure-deploy-tools.sh'
phase cargo cargo test --workspace
# The queue's admission protocol under loom's interleavings (its own cfg, so its own target
# dir keeps the main build's cache); bounded preemptions keep it to seconds.
phase loom env RUSTFLAGS='--cfg loom' CARGO_TARGET_DIR=target/loom LOOM_MAX_PREEMPTIONS=3 \
  cargo test --release -p optlayer-queue --test loom
phase miri bash scripts/miri.sh
phase ava npx ava
phase fuzz bash scripts/fuzz.sh
phase pack bash scripts/check-pack.sh
