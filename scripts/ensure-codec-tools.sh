#!/usr/bin/env bash
# Makes sure the reference tools of the codec interop tests (crates/codec/tests/interop.rs)
# are installed: gzip, zstd, brotli, lz4, and python3-snappy with python3-crc32c for the
# system Python (/usr/bin/python3). Idempotent. As root it installs what is missing with
# apt-get; otherwise it names what is missing and exits 1.
set -euo pipefail

missing=()
for tool in gzip zstd brotli lz4; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
# Debian's python3-snappy only loads under the system interpreter. Its framing-format
# checksum is broken on Python 3.11, so the tests swap in python3-crc32c's.
/usr/bin/python3 -c 'import snappy' >/dev/null 2>&1 || missing+=(python3-snappy)
/usr/bin/python3 -c 'import crc32c' >/dev/null 2>&1 || missing+=(python3-crc32c)

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-codec-tools: missing ${missing[*]}; install them with: apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "ensure-codec-tools: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
