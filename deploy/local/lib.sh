# lib.sh: paths, addresses and process helpers shared by the local stack's
# scripts (up.sh, down.sh, clean.sh). Sourced, not run.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATE=${PLATFORM_STATE_DIR:-$ROOT/.platform}
CACHE=${PLATFORM_CACHE_DIR:-/var/cache/platform}
BIN=$STATE/bin
LOGS=$STATE/logs
PIDS=$STATE/pids
RUN=$STATE/run
PKI=$STATE/pki
HERE=$ROOT/deploy/local

# Addresses. Everything listens on loopback except what listens on the pod
# bridge's address: the kubelet, so that the API server can reach it for
# logs and exec (it asks the API server to authorize every request; pods
# cannot reach it: see the firewall in up.sh), the API server, which pods
# reach as in any cluster when their NetworkPolicies allow, and CoreDNS.
ETCD_URL=https://127.0.0.1:23790
ETCD_PEER_URL=http://127.0.0.1:23800
APISERVER_URL=https://10.217.0.1:6443 # NODE_IP
NODE_NAME=platform-local
POD_BRIDGE=plat0
POD_CIDR=10.217.0.0/24
NODE_IP=10.217.0.1
SERVICE_CIDR=10.218.0.0/16
KUBERNETES_SERVICE_IP=10.218.0.1
# The cluster DNS (CoreDNS, on the node) behind the usual kube-dns Service.
DNS_SERVICE_IP=10.218.0.10
CLUSTER_DOMAIN=cluster.local
COREDNS_HEALTH_ADDR=127.0.0.1:7891
COREDNS_READY_ADDR=127.0.0.1:7892
# The storage provisioner: PersistentVolumes are directories under VOLUMES.
STORAGE_HEALTH_ADDR=127.0.0.1:7893
STORAGE_CLASS=local-path
VOLUMES=$STATE/volumes
# Build steps run in network namespaces on a bridge of their own, which
# reaches the internet through NAT and nothing on or around this machine.
BUILD_BRIDGE=platb0
BUILD_CIDR=10.219.0.0/24
# A platform installed on this cluster by the Helm chart (the install test's,
# or one by hand as the README shows) serves its registry at this node port,
# which the node's container runtime pulls from over plain HTTP; and it may
# be given the machine's Postgres through a forwarder on INSTALL_DB_PORT,
# which pods may connect to (a tenant's egress policy still keeps its apps
# from it).
INSTALL_REGISTRY=$NODE_IP:30500
INSTALL_DB_PORT=15432
# The stack's Docker engine (deploy/local/docker.sh), for the tests of the
# docker-compose.yml: its networks come from DOCKER_CIDR, its default
# bridge is the first of them, and its containers may open connections to
# pods, as a router outside the cluster does.
DOCKER_CIDR=10.220.0.0/16
DOCKER_BRIDGE_IP=10.220.0.1/24
DOCKER_SOCK=$RUN/docker.sock
# The registry of the docker-compose.yml's platformd (its default
# PLATFORM_REGISTRY_PORT), which the node pulls apps' images from over
# plain HTTP, as a kind or k3d node is told to.
COMPOSE_REGISTRY=127.0.0.1:5100
API_ADDR=127.0.0.1:7800
REGISTRY_ADDR=127.0.0.1:5000
GIT_ADDR=127.0.0.1:2222
ROUTER_ADDR=127.0.0.1:7880
# The router's HTTPS, with the certificates Ingresses name in spec.tls.
ROUTER_HTTPS_ADDR=127.0.0.1:7443
APPS_DOMAIN=localhost
OWN_POSTGRES_PORT=5433
NETPOL_HEALTH_ADDR=127.0.0.1:7890
PAUSE_IMAGE=platform.local/pause:1

# Components in start order; down.sh stops them in reverse.
COMPONENTS=(postgres etcd kube-apiserver netpol kube-controller-manager kube-scheduler kube-proxy coredns storage containerd buildkitd kubelet platformd)

say() { printf '==> %s\n' "$*"; }

# put_first TABLE HOOK CHAIN: the jump to CHAIN becomes HOOK's first rule.
put_first() {
  iptables -t "$1" -I "$2" 1 -j "$3"
  for n in $(iptables -t "$1" -L "$2" --line-numbers -n | awk -v c="$3" '$2 == c && $1 > 1 { print $1 }' | sort -rn); do
    iptables -t "$1" -D "$2" "$n"
  done
}

# pid_of NAME prints the recorded pid of a component if that process is still
# alive and is ours (its command line names our state directory).
pid_of() {
  local f=$PIDS/$1.pid pid
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$STATE" || return 1
  echo "$pid"
}

running() { pid_of "$1" >/dev/null; }

# start NAME CMD...: starts CMD in its own session with its output appended to
# $LOGS/NAME.log and its pid recorded, unless NAME is already running with
# the same command line and configuration files (CONFIG_FILES, a
# space-separated list); one running with others is restarted.
start() {
  local name=$1; shift
  local sum
  sum=$({ printf '%s\0' "$@"; [ -z "${CONFIG_FILES:-}" ] || cat $CONFIG_FILES; } | sha256sum | cut -c1-16)
  if running "$name"; then
    if [ "$(cat "$PIDS/$name.sum" 2>/dev/null)" = "$sum" ]; then
      echo "    $name already running (pid $(pid_of "$name"))"
      return 0
    fi
    echo "    $name's configuration changed; restarting it"
    stop "$name"
  fi
  echo "--- start $(date -u +%FT%TZ)" >> "$LOGS/$name.log"
  # The daemon keeps none of the caller's other open files: a lock held by
  # whoever ran make up (flock LOCK make up) would otherwise stay held for as
  # long as the daemon runs.
  (
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}
      [ "$fd" -le 2 ] || eval "exec $fd>&-"
    done
    exec setsid "$@" >> "$LOGS/$name.log" 2>&1 < /dev/null
  ) &
  echo $! > "$PIDS/$name.pid"
  echo "$sum" > "$PIDS/$name.sum"
}

# fail NAME MESSAGE: reports a component that did not come up, with the last
# lines of its log, and exits non-zero.
fail() {
  local name=$1; shift
  echo >&2
  echo "make up: $name: $*" >&2
  if [ -f "$LOGS/$name.log" ]; then
    echo "--- last lines of $LOGS/$name.log:" >&2
    tail -n 25 "$LOGS/$name.log" >&2
  fi
  exit 1
}

# wait_for NAME SECONDS CMD...: waits until CMD succeeds, failing loudly if
# the component's process dies or the time runs out.
wait_for() {
  local name=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    # Whether the process is alive, not whether it is ours yet: just after
    # start() forks, the child may not have exec'd the component, and its
    # command line is still this shell's.
    if [ -f "$PIDS/$name.pid" ] && ! kill -0 "$(cat "$PIDS/$name.pid")" 2>/dev/null; then
      fail "$name" "exited while starting"
    fi
    if [ $SECONDS -ge $deadline ]; then
      fail "$name" "not healthy after ${secs}s"
    fi
    sleep 0.5
  done
}

# stop NAME: stops a component by its recorded pid (TERM, then KILL after a
# grace period) and forgets the pid.
stop() {
  local name=$1 pid i
  if pid=$(pid_of "$name"); then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
    echo "    stopped $name (pid $pid)"
  fi
  rm -f "$PIDS/$name.pid"
}

# new_ca SUBJECT makes ca.key and ca.crt in the current directory; cert NAME
# SUBJECT EXTENSIONS makes NAME.key and NAME.crt, signed by that CA.
new_ca() {
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "$1" -keyout ca.key -out ca.crt 2>/dev/null
}
cert() {
  openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$1.key" -out "$1.csr" 2>/dev/null
  printf '%s\n' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
    -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

kubectl_() { "$BIN/kubectl" --kubeconfig "$STATE/kubeconfig" "$@"; }
crictl_() { "$BIN/crictl" --runtime-endpoint "unix://$RUN/containerd.sock" --timeout 20s "$@"; }

# shims prints the pids of containerd shims serving our containerd.
shims() {
  local p
  for p in $(pgrep -f containerd-shim 2>/dev/null); do
    tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$RUN/containerd.sock" && echo "$p"
  done
  return 0
}

# unmount_under DIR unmounts everything mounted on or below DIR, deepest
# first (the kubelet, for one, bind-mounts its root directory on itself).
unmount_under() {
  local dir=$1 m
  awk -v d="$dir" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
}

# shared_netns_dir makes /run/netns a shared mount point, as iproute2's
# "ip netns add" does the first time it runs. Done before any pod has a
# network namespace: done later, by a test's "ip netns add", the new mount
# would cover the pods' namespaces mounted there before, and the runtime
# could never unmount them (pods stuck terminating: "remove netns:
# device or resource busy").
shared_netns_dir() {
  mkdir -p /run/netns
  if ! mountpoint -q /run/netns; then
    mount --bind /run/netns /run/netns
  fi
  mount --make-shared /run/netns
}

# uncover_netns lifts the mount of /run/netns itself while no runtime
# runs, so that the namespaces an earlier stack's pods had under it, if
# such a mount came to cover them, are in reach of stale_netns again.
uncover_netns() {
  if mountpoint -q /run/netns; then
    umount -l /run/netns 2>/dev/null || true
  fi
}

# stale_netns removes pod network namespaces left by an earlier run of a
# stack (ours or another clone's) once its containerd is gone: those holding
# an address on the pod network lose their orphaned processes (pods whose
# shims were killed) and are deleted, and so are empty ones nothing holds.
# Only called while no containerd of ours runs.
stale_netns() {
  local ns pids prefix=${POD_CIDR%.*}.
  [ -d /var/run/netns ] || return 0
  for ns in $(ls /var/run/netns 2>/dev/null); do
    case $ns in cni-*) ;; *) continue ;; esac
    pids=$(ip netns pids "$ns" 2>/dev/null)
    if ip -n "$ns" -4 addr 2>/dev/null | grep -qF "inet $prefix"; then
      [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
      ip netns delete "$ns" 2>/dev/null || true
    elif [ -z "$pids" ] && [ -z "$(ip -n "$ns" -4 addr 2>/dev/null | grep inet | grep -v 127.0.0.1)" ]; then
      ip netns delete "$ns" 2>/dev/null || true
    fi
  done
}
