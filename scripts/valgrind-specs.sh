#!/usr/bin/env bash
# Runs ava specs under valgrind's memcheck and reports every error and leak whose stack
# passes through the native addon (optlayer.*.node); exits 1 if there is any.
# Usage: scripts/valgrind-specs.sh __test__/codecs.spec.ts [more spec files]
#
# Node and V8 themselves give memcheck plenty to say (the garbage collector scans stacks
# conservatively, JIT code switches stacks, the heap is never freed at exit): only records
# that reach into the addon are ours, less the known ones of its dependencies that
# scripts/valgrind.supp lists with their reasons. The release addon is stripped, so its frames
# show as `???`; `npm run build:debug` first gives them names. Expect 30-60x the specs' usual time.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$#" -eq 0 ]; then
  echo "valgrind-specs.sh: name the spec files to run" >&2
  exit 2
fi
if ! command -v valgrind >/dev/null; then
  echo "valgrind-specs.sh: valgrind is not installed (apt-get install valgrind)" >&2
  exit 2
fi

logs="$(mktemp -d)"
echo "valgrind-specs.sh: logs in $logs" >&2
# One log per process: ava's own, its worker and any child it starts; esbuild (tsx's
# compiler, a Go program) and the Redis servers the harness starts (not ours, and too slow
# under memcheck to start within the harness's deadline) are left alone.
status=0
valgrind --trace-children=yes --trace-children-skip='*esbuild*,*redis-server*' \
  --leak-check=full --show-leak-kinds=definite,indirect --num-callers=40 \
  --suppressions=scripts/valgrind.supp \
  --log-file="$logs/memcheck.%p.log" \
  node node_modules/ava/entrypoints/cli.mjs --no-worker-threads --serial "$@" || status=$?

# A record is the lines between two bare `==pid==` lines.
found="$(awk '
  /^==[0-9]+== $/ { if (record ~ /optlayer[^ ]*\.node/) print record "\n"; record = ""; next }
  { record = record $0 "\n" }
  END { if (record ~ /optlayer[^ ]*\.node/) print record }
' "$logs"/memcheck.*.log)"

if [ -n "$found" ]; then
  printf '%s\n' "$found"
  echo "valgrind-specs.sh: memcheck records through the addon (above)" >&2
  exit 1
fi
if [ "$status" -ne 0 ]; then
  echo "valgrind-specs.sh: the specs failed under valgrind (exit $status)" >&2
  exit "$status"
fi
echo "valgrind-specs.sh: no memcheck record through the addon in $(ls "$logs" | wc -l) processes" >&2
