#!/usr/bin/env bash
# docker.sh gives the local stack a Docker engine, for the tests of the
# docker-compose.yml (deploy/compose): it installs Debian's docker.io and
# docker-compose when missing and starts dockerd, unless it runs, with a
# socket, state and containerd of its own, so that it leaves the stack's
# containerd and kubelet alone. Its image store is in the machine-wide cache
# ($CACHE/docker), so that base images and build layers survive a fresh
# clone. It prints the DOCKER_HOST to use. down.sh stops it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

mkdir -p "$LOGS" "$PIDS" "$RUN"
# Its messages go to stderr: stdout is the DOCKER_HOST.
"$HERE/install-packages.sh" docker.io docker-compose >&2

# The engine's own containerd (dockerd starts it under --exec-root and
# --data-root), its own bridge and address pool (DOCKER_CIDR, apart from the
# pods', the services' and the builds' ranges). The stack has turned IP
# forwarding on; --ip-forward=false keeps dockerd from touching it or the
# FORWARD chain's policy. Its containers reach the outside through its NAT,
# as on a laptop: the compose file's builds download Go modules.
mkdir -p "$CACHE/docker" "$RUN/docker"
running dockerd || rm -f "$DOCKER_SOCK"
start dockerd /usr/sbin/dockerd \
  --host="unix://$DOCKER_SOCK" \
  --data-root="$CACHE/docker" \
  --exec-root="$RUN/docker" \
  --pidfile="$RUN/docker/dockerd.pid" \
  --bip="$DOCKER_BRIDGE_IP" \
  --default-address-pool="base=$DOCKER_CIDR,size=24" \
  --ip-forward=false \
  --log-level=warn >&2
wait_for dockerd 60 /usr/bin/docker --host "unix://$DOCKER_SOCK" version
# dockerd puts its jumps first in FORWARD; the stack's isolation of pods and
# builds goes back before them (its exceptions for these containers are in
# PLATFORM-ISOLATE).
if iptables -L PLATFORM-ISOLATE -n >/dev/null 2>&1; then
  put_first filter FORWARD PLATFORM-BUILDS
  put_first filter FORWARD PLATFORM-ISOLATE
fi
echo "unix://$DOCKER_SOCK"
