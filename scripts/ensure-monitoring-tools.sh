#!/usr/bin/env bash
# Makes sure the reference tools of the monitoring tests are installed: promtool (Debian's
# prometheus package; __test__/promtool.spec.ts checks /metrics with it) and chromium (driven
# by playwright-core in __test__/dashboard.spec.ts; never a downloaded browser). Idempotent.
# As root it installs what is missing with apt-get; otherwise it names what is missing and
# exits 1.
set -euo pipefail

missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
[ -x /usr/bin/chromium ] || missing+=(chromium)

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-monitoring-tools: missing ${missing[*]}; install them with: apt-get install ${missing[*]}" >&2
  exit 1
fi

# Two test runs (or this and ensure-codec-tools.sh) may start at once: one installs, the
# other waits and then finds everything there.
exec 9>/var/lock/optlayer-ensure-tools.lock
flock 9
missing_now=()
for package in "${missing[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing_now+=("$package")
done
if [ "${#missing_now[@]}" -eq 0 ]; then
  exit 0
fi

echo "ensure-monitoring-tools: installing ${missing_now[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Another apt or dpkg run (unattended upgrades, an image build) may hold the dpkg lock: wait for it.
apt_wait=(-o DPkg::Lock::Timeout=600)
apt-get "${apt_wait[@]}" update -qq
apt-get "${apt_wait[@]}" install -y -qq --no-install-recommends "${missing_now[@]}" >/dev/null
command -v promtool >/dev/null 2>&1 || {
  echo "ensure-monitoring-tools: promtool still missing after installing prometheus" >&2
  exit 1
}
[ -x /usr/bin/chromium ] || {
  echo "ensure-monitoring-tools: /usr/bin/chromium still missing after installing chromium" >&2
  exit 1
}
