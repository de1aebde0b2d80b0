#!/usr/bin/env bash
# Set up everything rofs and its tests need on a Debian/Ubuntu machine:
# the Debian packages (bubblewrap, strace and the real servers the tests start)
# and a virtual environment in .venv with rofs and its test dependencies.
# Safe to run again; it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  bubblewrap strace umoci skopeo busybox-static gosu  # rofs run / rofs trace, images without a daemon
  mmdebstrap  # the official-image tests rebuild those images (tests/official)
  postgresql redis-server nginx-light memcached  # real servers the tests start
  python3-venv
  gcc libc6-dev  # the escape tests build their attacker program static
  acl attr  # the fix tests check that ACLs and extended attributes survive a rewrite
  patch git  # the fix tests apply rofs fix --diff output with both
)

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# Runtimes whose read-only behaviour the profile tests reproduce: take Debian's only
# when the machine has none (a node or JDK installed another way is used as it is).
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v javac >/dev/null || missing+=(default-jdk-headless)
command -v go >/dev/null || missing+=(golang-go)  # a static Go program's temp-dir behaviour
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The packages' own services are not needed: the tests start the servers themselves.
  for svc in postgresql redis-server nginx memcached; do
    $SUDO systemctl stop "$svc" >/dev/null 2>&1 || $SUDO service "$svc" stop >/dev/null 2>&1 || true
  done
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'
echo "setup: ready ($(.venv/bin/rofs --version))"
