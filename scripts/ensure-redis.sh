#!/usr/bin/env bash
# Makes sure redis-server and redis-cli are installed for the Redis specs, whose harness
# (__test__/helpers/redis/) runs its own throw-away servers on free ports: Debian's
# redis-server package, which brings redis-cli through redis-tools. Idempotent. As root it
# installs what is missing with apt-get, without letting the package start a system server
# on 6379; otherwise it names what is missing and exits 1.
set -euo pipefail

server=/usr/bin/redis-server
cli=/usr/bin/redis-cli

missing_binaries() {
  missing=()
  [ -x "$server" ] || missing+=("$server")
  [ -x "$cli" ] || missing+=("$cli")
}

missing_binaries
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-redis: missing ${missing[*]}; install them with: apt-get install redis-server" >&2
  exit 1
fi

# Two test runs (or this and the other ensure-*.sh scripts) may start at once: one installs,
# the other waits and then finds everything there.
exec 9>/var/lock/optlayer-ensure-tools.lock
flock 9
missing_binaries
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

# invoke-rc.d asks policy-rc.d first; 101 means "not allowed", so the package's postinst
# starts no server on 6379. Only a policy-rc.d created here is removed again, also when apt
# fails.
policy=/usr/sbin/policy-rc.d
created_policy=
cleanup() { if [ -n "$created_policy" ]; then rm -f "$policy"; fi; }
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
if [ ! -e "$policy" ]; then
  created_policy=1
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
fi

echo "ensure-redis: installing redis-server (missing ${missing[*]})" >&2
export DEBIAN_FRONTEND=noninteractive
# Another apt or dpkg run (unattended upgrades, an image build) may hold the dpkg lock: wait for it.
apt_wait=(-o DPkg::Lock::Timeout=600)
apt-get "${apt_wait[@]}" update -qq
apt-get "${apt_wait[@]}" install -y -qq --no-install-recommends redis-server >/dev/null
missing_binaries
if [ "${#missing[@]}" -ne 0 ]; then
  echo "ensure-redis: ${missing[*]} still missing after installing redis-server" >&2
  exit 1
fi
