#!/usr/bin/env bash
# Proves a user can install optlayer without a Rust toolchain: packs the main package and
# the linux-x64-gnu binary package the napi-rs way (create-npm-dirs, then artifacts),
# installs both tarballs into an empty project with cargo absent from PATH, calls zstd through
# the public API from CommonJS and from ESM, and runs the README's quick start there.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

binary=optlayer.linux-x64-gnu.node
[ -f "$binary" ] || { echo "check-pack: $binary is missing; run 'npm run build' first" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/optlayer-pack-XXXXXX")
config="$work/napi-linux-x64-gnu.json"
trap 'rm -rf "$work" "$root/artifacts"' EXIT

# The platform package dirs are generated, never committed (napi-rs v3 convention).
npx napi create-npm-dirs >"$work/napi.log" 2>&1 || { cat "$work/napi.log" >&2; exit 1; }
mkdir -p artifacts && cp "$binary" artifacts/
# Only this platform can be built here: fill just its package.
node -e 'const p=require("./package.json"); console.log(JSON.stringify({binaryName:p.napi.binaryName,targets:["x86_64-unknown-linux-gnu"]}))' >"$config"
npx napi artifacts --config-path "$config" >"$work/napi.log" 2>&1 || { cat "$work/napi.log" >&2; exit 1; }

npm pack --silent --ignore-scripts --pack-destination "$work" ./npm/linux-x64-gnu >/dev/null
npm pack --silent --ignore-scripts --pack-destination "$work" . >/dev/null
main_tgz=$(ls "$work"/optlayer-[0-9]*.tgz)
platform_tgz=$(ls "$work"/optlayer-linux-x64-gnu-*.tgz)

if tar -tzf "$main_tgz" | grep -q '\.node$'; then
  echo "check-pack: the main tarball must not carry a .node binary" >&2
  exit 1
fi
tar -tzf "$platform_tgz" | grep -q "package/$binary" || { echo "check-pack: $binary missing from $platform_tgz" >&2; exit 1; }

app="$work/app"
mkdir -p "$app"
cd "$app"
echo '{ "name": "optlayer-pack-check", "version": "1.0.0", "private": true }' >package.json

# A PATH without any directory that holds cargo or rustc.
clean_path=$(printf '%s' "$PATH" | tr ':' '\n' | while read -r dir; do
  [ -n "$dir" ] && [ ! -x "$dir/cargo" ] && [ ! -x "$dir/rustc" ] && printf '%s:' "$dir"
done)
clean_path=${clean_path%:}
export PATH="$clean_path"
export CARGO_HOME="$work/no-cargo" RUSTUP_HOME="$work/no-rustup"
if command -v cargo >/dev/null 2>&1; then
  echo "check-pack: cargo is still on PATH" >&2
  exit 1
fi

npm install --silent --no-audit --no-fund "$main_tgz" "$platform_tgz"
[ -f node_modules/optlayer-linux-x64-gnu/$binary ] || { echo "check-pack: platform package not installed" >&2; exit 1; }

node -e '
const assert = require("node:assert/strict")
const { Compressor, CorruptInputError } = require("optlayer")
const input = Buffer.from("optlayer pack check ".repeat(100))
const packed = Compressor.compress(input, "zstd", { level: 3 })
assert.ok(packed.length < input.length)
assert.deepEqual(Compressor.decompress(packed, "zstd"), input)
assert.throws(() => Compressor.decompress(Buffer.from("garbage"), "zstd"), (err) => err instanceof CorruptInputError && err.code === "ERR_OPTLAYER_CORRUPT_INPUT")
Compressor.compressAsync(input, "zstd").then((p) => Compressor.decompressAsync(p, "zstd")).then((out) => {
  assert.deepEqual(out, input)
  assert.ok(require.resolve("optlayer-linux-x64-gnu").includes("node_modules/optlayer-linux-x64-gnu"))
})
'
node --input-type=module -e '
import assert from "node:assert/strict"
import { Compressor } from "optlayer"
assert.deepEqual(Compressor.decompress(Compressor.compress("esm", "zstd"), "zstd").toString(), "esm")
'
./node_modules/.bin/optlayer --version >/dev/null

# The README's "Use it in your service" quick start, as a new user runs it after
# `npm install optlayer`: the same block the README spec runs from the repository, here in the
# app that installed the tarballs (the harness runs from the repository, for its TypeScript).
(cd "$root" && node --import=tsx -e '
const { readFileSync } = require("node:fs")
const { runnableExamples, serveExample } = require("./__test__/helpers/readme.ts")
const quickStart = runnableExamples(readFileSync("README.md", "utf8")).find((example) => example.service)
if (quickStart === undefined) throw new Error("README.md has no runnable service example")
serveExample(quickStart.code, process.argv[1]).then(({ ok, output }) => {
  if (!ok) {
    console.error(`check-pack: the README quick start (README.md:${quickStart.line}) failed from the tarballs:\n${output}`)
    process.exit(1)
  }
})
' "$app")
echo "check-pack: ok: installed $(basename "$main_tgz") and $(basename "$platform_tgz") without cargo; zstd works from CJS and ESM; the README quick start serves"
