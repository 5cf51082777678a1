#!/usr/bin/env bash
# install-packages.sh installs the Debian packages the local stack runs on,
# or, given package names, those (docker.sh: the Docker engine's). It asks
# apt only when something is missing, so a second run is instant.
set -euo pipefail

if [ $# -gt 0 ]; then
  packages=("$@")
else
  packages=(
    ca-certificates curl git openssh-client openssl iproute2 iptables util-linux
    etcd-server etcd-client containerd runc containernetworking-plugins
    debootstrap postgresql-client
    # The dashboard's browser tests drive a headless Chromium; the font
    # keeps their screenshots legible.
    chromium fonts-dejavu-core
  )
  # A Postgres server of our own is needed only when neither DATABASE_URL
  # nor a server on 127.0.0.1:5432 is there; up.sh passes
  # WANT_POSTGRES_SERVER=1 then.
  if [ "${WANT_POSTGRES_SERVER:-0}" = 1 ]; then
    packages+=(postgresql)
  fi
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d keeps package scripts from starting etcd, containerd or Docker
# as system services: the stack runs its own, with its own configuration and
# ports.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod +x "$policy"
  own_policy=1
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
[ "$own_policy" = 1 ] && rm -f "$policy"
exit 0
