#!/usr/bin/env bash
# The whole test command (`npm test`): build, lint, reference tools, clippy with the Rust
# tests, loom models, TypeScript and Redis specs, the chaos suite's short scenarios, fuzzing,
# packaging. Each phase's duration is printed at the end, also when a phase fails, so a slow
# phase is seen.
#
# Loom, Miri and fuzzing need nothing from the other phases, so they run as background lanes
# from the start, alongside the build, lint, the Rust tests and the AVA specs (which spend
# most of their time waiting on Redis servers, timers and child processes), and are joined
# before packaging. A lane's output
# goes to target/test-lanes/<name>.log and is printed if the lane fails; any failed lane
# fails the command. Lanes run niced, so the foreground keeps the CPU when it needs it and
# the specs' timers fire on time.
set -uo pipefail
cd "$(dirname "$0")/.."

names=()
seconds=()
started=$SECONDS
lane_dir=target/test-lanes
lane_names=()
lane_pids=()

summary() {
  local status=$?
  stop_lanes
  echo
  echo "test phases (seconds; loom, miri, fuzz ran in the background from the start):"
  for i in "${!names[@]}"; do
    printf '  %-10s %5d\n' "${names[$i]}" "${seconds[$i]}"
  done
  printf '  %-10s %5d\n' total $((SECONDS - started))
  exit "$status"
}
trap summary EXIT
trap 'exit 130' INT TERM HUP

# Runs one phase in the foreground and records its duration; returns its exit status.
run_phase() {
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
  fi
  return "$status"
}

phase() {
  run_phase "$@" || exit
}

# Starts a phase as a background lane in its own session (so it can be stopped as a whole
# with its cargo and test processes). It writes its exit status and duration next to its log.
lane() {
  local name=$1
  shift
  mkdir -p "$lane_dir"
  rm -f "$lane_dir/$name".{log,status,seconds}
  echo "== test lane (background): $name, log in $lane_dir/$name.log" >&2
  # Linux's autogroup scheduling shares the CPU between sessions first and applies nice only
  # within one, so a lane in its own session would compete with the foreground as an equal
  # (a niced lane tripled the Rust test build's time): the lane lowers its whole session too.
  setsid bash -c 'start=$SECONDS; log=$1; shift; echo 10 2>/dev/null >/proc/self/autogroup
    nice -n 10 "$@" >"$log.log" 2>&1
    status=$?; echo $((SECONDS - start)) >"$log.seconds"; echo "$status" >"$log.status"' \
    lane "$lane_dir/$name" "$@" &
  lane_names+=("$name")
  lane_pids+=($!)
}

# Waits for every lane, records its duration and prints the log of each one that failed.
# Returns 1 if any lane failed.
join_lanes() {
  local failed=0 i name status
  for i in "${!lane_pids[@]}"; do
    name=${lane_names[$i]}
    wait "${lane_pids[$i]}"
    status=$(cat "$lane_dir/$name.status" 2>/dev/null || echo 1)
    names+=("$name")
    seconds+=("$(cat "$lane_dir/$name.seconds" 2>/dev/null || echo 0)")
    if [ "$status" -ne 0 ]; then
      echo "== test lane '$name' failed (exit $status); its output:" >&2
      cat "$lane_dir/$name.log" >&2
      failed=1
    fi
  done
  lane_pids=()
  lane_names=()
  return "$failed"
}

# On an early exit (a failed phase, Ctrl-C) no lane is left running.
stop_lanes() {
  local pid
  for pid in "${lane_pids[@]}"; do
    kill -- -"$pid" 2>/dev/null
  done
}

# The CPU-bound checks that need nothing from the build, lint or the Rust tests start first,
# niced: they fill the cores the foreground phases leave idle (a cargo build's serial
# tail, prettier and tsc on one core, the specs' waits) and give way when those need them.
# The queue's admission protocol under loom's interleavings (its own cfg, so its own target
# dir keeps the main build's cache); bounded preemptions keep it to seconds. Optimised, but
# without the addon's fat LTO and single codegen unit, which only lengthen this build.
lane loom env RUSTFLAGS='--cfg loom' CARGO_TARGET_DIR=target/loom LOOM_MAX_PREEMPTIONS=3 \
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 cargo test --release -p optlayer-queue --test loom
lane miri bash scripts/miri.sh
# Fuzzing unoptimised: its release build was the slowest lane (see scripts/fuzz.sh).
lane fuzz env FUZZ_PROFILE=dev bash scripts/fuzz.sh

phase build npm run --silent build

# Clippy lints every target of the workspace's crates in the same build that makes the test
# binaries: clippy-driver as the workspace's rustc wrapper, with its arguments in CLIPPY_ARGS
# (separated by __CLIPPY_HACKERY__), is how `cargo clippy` itself drives it. A separate
# `cargo clippy` pass compiled the whole workspace a second time, about 200 CPU-seconds here.
# Warnings are errors, as in `npm run lint:rust`. Benches are built (so linted) but not run:
# criterion's test mode fills their caches unoptimised, a minute for nothing.
clippy_and_rust_tests() {
  local driver
  driver=$(command -v clippy-driver) || {
    echo "clippy-driver not found: rustup component add clippy" >&2
    return 1
  }
  RUSTC_WORKSPACE_WRAPPER=$driver CLIPPY_ARGS='-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__' \
    bash -c 'cargo test --workspace --all-targets --no-run && cargo test --workspace'
}

# AVA prints an uncaught exception where it happens, amid hundreds of lines of results, and
# only counts it in its summary: the report is repeated after the summary, so that a log
# kept only in part (its beginning and end) still says what was thrown and where.
specs() {
  mkdir -p "$lane_dir"
  npx ava 2>&1 | tee "$lane_dir/ava.log"
  local status=$?
  # The gateway's cache and proxy suites once more behind the native front: both fronts
  # must pass them (see serveGatewayForSpec in __test__/helpers/gateway.ts).
  if [ "$status" -eq 0 ]; then
    echo "== the gateway's cache and proxy specs behind the native front" | tee -a "$lane_dir/ava.log"
    OPTLAYER_TEST_FRONT=native npx ava __test__/gateway-cache.spec.ts __test__/gateway-proxy.spec.ts 2>&1 |
      tee -a "$lane_dir/ava.log"
    status=$?
  fi
  if [ "$status" -ne 0 ] && grep -q -E 'Uncaught exception|Unhandled rejection' "$lane_dir/ava.log"; then
    echo "== uncaught exceptions and unhandled rejections, as AVA reported them:" >&2
    grep -E -A40 'Uncaught exception|Unhandled rejection' "$lane_dir/ava.log" >&2
  fi
  return "$status"
}

failed=0
run_phase lint bash -c 'npm run --silent lint:format && npm run --silent lint:types' || failed=1
[ "$failed" -eq 1 ] || run_phase tools bash -c 'bash scripts/ensure-codec-tools.sh && bash scripts/ensure-monitoring-tools.sh && bash scripts/ensure-redis.sh && bash scripts/ensure-deploy-tools.sh' || failed=1
[ "$failed" -eq 1 ] || run_phase cargo clippy_and_rust_tests || failed=1
[ "$failed" -eq 1 ] || run_phase ava specs || failed=1
# The reliability suite's bounded scenarios (Redis killed, backends killed, bad input), each
# under load against real processes; `npm run chaos` runs the full versions.
[ "$failed" -eq 1 ] || run_phase chaos npx tsx chaos/run.ts --short || failed=1
# A failed foreground phase still waits for the lanes, so their verdict is reported too.
join_lanes || failed=1
[ "$failed" -eq 0 ] || exit 1

phase pack bash scripts/check-pack.sh
