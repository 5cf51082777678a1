#!/usr/bin/env bash
# down.sh stops every process of the local stack (make down), by the pids it
# recorded, and the pods under them; the data stays for the next make up.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

say "stopping the local stack"
# The Docker engine of the compose tests (docker.sh), with its containers.
stop dockerd
stop platformd
# The kubelet goes first so it does not restart the pods stopped below.
stop kubelet
if running containerd && [ -x "$BIN/crictl" ]; then
  # Stopping the pod sandboxes through the CRI tears down their network
  # namespaces too; killing processes alone would leave them behind.
  crictl_ stopp $(crictl_ pods -q 2>/dev/null) >/dev/null 2>&1 || true
  crictl_ rmp -fa >/dev/null 2>&1 || true
fi
stop buildkitd
stop containerd
for p in $(shims); do
  kill -TERM "$p" 2>/dev/null || true
done
sleep 0.5
for p in $(shims); do
  kill -KILL "$p" 2>/dev/null || true
done
# kube-proxy's rules stay, as the NetworkPolicy ones do, until it is back.
stop storage
stop coredns
stop kube-proxy
stop kube-scheduler
stop kube-controller-manager
stop netpol
stop kube-apiserver
stop etcd
stop postgres
unmount_under "$STATE/kubelet"
unmount_under "$RUN/containerd"
unmount_under "$STATE/containerd"
uncover_netns
stale_netns
say "stopped; data kept in $STATE (make clean removes it)"
