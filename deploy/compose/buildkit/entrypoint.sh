#!/bin/sh
# platform-buildkitd starts buildkitd for the docker-compose.yml. It listens
# on loopback only: it shares its network namespace with platformd, whose
# embedded registry builds push to at 127.0.0.1:$PLATFORM_REGISTRY_PORT,
# the address the cluster's nodes pull from too. That registry speaks plain
# HTTP, as loopback registries do.
set -eu
: "${PLATFORM_REGISTRY_PORT:?the port of platformd's registry}"
mkdir -p /etc/buildkit
cat > /etc/buildkit/buildkitd.toml <<EOT
[grpc]
  address = ["tcp://127.0.0.1:1234"]
[worker.oci]
  enabled = true
  gc = true
  gckeepstorage = "10GB"
[worker.containerd]
  enabled = false
# Builds use the Dockerfile frontend compiled into buildkitd and no other.
[frontends."gateway.v0"]
  enabled = false
[registry."127.0.0.1:$PLATFORM_REGISTRY_PORT"]
  http = true
  insecure = true
EOT
exec buildkitd --config /etc/buildkit/buildkitd.toml "$@"
