#!/bin/sh
# entrypoint.sh runs platformd in the docker-compose.yml's container, with
# its settings from the environment (PLATFORM_*), as user 65532. It starts
# as root only to read the files mounted from the host, which are often
# readable by their owner alone (a kubeconfig is): it copies them where
# platformd reads them. Builds trust the CA bundle mounted at
# /etc/platform/build-ca.pem besides their images' own, when it is not
# empty (BUILD_CA_FILE in .env: a TLS-inspecting proxy's CA).
set -eu
# Docker mounts a folder where the host has no file by the name.
if [ -d /etc/platform/kubeconfig ] || [ ! -s /etc/platform/kubeconfig ]; then
  echo "platformd: no kubeconfig: set KUBECONFIG_FILE in .env to the kubeconfig file of the cluster apps run on (see README.md, Try it with Docker)" >&2
  exit 1
fi
run=/run/platform
mkdir -p "$run"
install -o 65532 -g 65532 -m 0600 /etc/platform/kubeconfig "$run/kubeconfig"
export PLATFORM_KUBECONFIG="$run/kubeconfig"
if [ -s /etc/platform/build-ca.pem ]; then
  install -o 65532 -g 65532 -m 0644 /etc/platform/build-ca.pem "$run/build-ca.pem"
  export PLATFORM_BUILD_CA_FILE="$run/build-ca.pem"
fi
chown 65532:65532 "$PLATFORM_DATA_DIR"
exec setpriv --reuid=65532 --regid=65532 --clear-groups /usr/local/bin/platformd "$@"
