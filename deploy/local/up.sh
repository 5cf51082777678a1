#!/usr/bin/env bash
# up.sh brings up the whole local stack (make up): Postgres, etcd, the
# Kubernetes control plane, containerd, kubelet, buildkitd and platformd with
# its registry, kube-proxy, CoreDNS and a storage provisioner; then the base
# images; then writes .platform/env.
# It is idempotent: what already runs is left alone.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

t0=$SECONDS
[ "$(id -u)" = 0 ] || { echo "make up: run as root (it starts a kubelet and containerd)" >&2; exit 1; }
[ "$(uname -s)" = Linux ] || { echo "make up: needs Linux" >&2; exit 1; }
mkdir -p "$BIN" "$LOGS" "$PIDS" "$RUN" "$PKI"

say "packages"
postgres_mode=external
if [ -n "${DATABASE_URL:-}" ]; then
  postgres_mode=external
elif pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  postgres_mode=local
else
  postgres_mode=own
fi
WANT_POSTGRES_SERVER=$([ $postgres_mode = own ] && echo 1 || echo 0) "$HERE/install-packages.sh"

say "tools (built once, cached in $CACHE/tools)"
"$HERE/build-tools.sh" "$BIN"
say "platform binaries"
make -s -C "$ROOT" build
# The NetworkPolicy enforcer of the local stack (a rename: the running
# binary's file may be busy).
(cd "$ROOT" && go build -trimpath -o "$BIN/netpol.new" ./deploy/local/netpol) && mv -f "$BIN/netpol.new" "$BIN/netpol"
# Its storage provisioner, likewise.
(cd "$ROOT" && go build -trimpath -o "$BIN/storage.new" ./deploy/local/storage) && mv -f "$BIN/storage.new" "$BIN/storage"
ln -sfn "$ROOT/bin/platform" "$BIN/platform"

# --- leftovers of an earlier run ------------------------------------------
if ! running containerd; then
  # Pods of a stack that was killed rather than stopped: their shims, mounts
  # and network namespaces.
  for p in $(shims); do kill -KILL "$p" 2>/dev/null || true; done
  if ! running kubelet; then unmount_under "$STATE/kubelet"; fi
  unmount_under "$STATE/containerd"
  unmount_under "$RUN/containerd"
  uncover_netns
  stale_netns
  # Before the first pod (see shared_netns_dir).
  shared_netns_dir
fi

# --- certificates and kubeconfig -------------------------------------------
if [ ! -f "$PKI/.complete" ]; then
  say "certificates"
  (
    cd "$PKI"
    new_ca "/CN=platform-local-ca"
    cert apiserver "/CN=kube-apiserver" \
      "subjectAltName=IP:127.0.0.1,IP:$KUBERNETES_SERVICE_IP,IP:$NODE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth"
    # One client identity for the stack's own components and its operator:
    # a local single-node stack has one trust domain.
    cert admin "/O=system:masters/CN=platform-admin" "extendedKeyUsage=clientAuth"
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    chmod 600 ./*.key
    touch .complete
  )
fi
# etcd has a CA of its own: a certificate of the cluster's CA (which signs
# client identities for the API server) opens nothing in etcd.
if [ ! -f "$PKI/etcd/.complete" ]; then
  say "etcd certificates"
  (
    mkdir -p "$PKI/etcd"
    cd "$PKI/etcd"
    new_ca "/CN=platform-local-etcd-ca"
    cert server "/CN=etcd" "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
    cert apiserver "/CN=kube-apiserver-etcd-client" "extendedKeyUsage=clientAuth"
    chmod 600 ./*.key
    touch .complete
  )
fi
# Secrets (the apps' config vars among them) are encrypted in etcd.
if [ ! -s "$PKI/encryption.yaml" ]; then
  (umask 077; cat > "$PKI/encryption.yaml" <<EOF
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - aescbc:
      keys:
      - name: key1
        secret: $(head -c 32 /dev/urandom | base64)
  - identity: {}
EOF
  )
fi
cat > "$STATE/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: $APISERVER_URL
    certificate-authority: $PKI/ca.crt
users:
- name: admin
  user:
    client-certificate: $PKI/admin.crt
    client-key: $PKI/admin.key
contexts:
- name: local
  context: {cluster: local, user: admin}
current-context: local
EOF
chmod 600 "$STATE/kubeconfig"

# --- network -----------------------------------------------------------------
say "network"
# Bridged pod traffic passes iptables (NetworkPolicy, and kube-proxy's
# translation of a Service IP to a pod on the same bridge and back).
[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] || modprobe br_netfilter \
  || fail network "the br_netfilter kernel module is missing: load it (modprobe br_netfilter)"
sysctl -qw net.bridge.bridge-nf-call-iptables=1
if ! ip link show "$POD_BRIDGE" >/dev/null 2>&1; then
  ip link add "$POD_BRIDGE" type bridge
fi
ip addr replace "$NODE_IP/${POD_CIDR#*/}" dev "$POD_BRIDGE"
ip link set "$POD_BRIDGE" up
# Pods have a route to the service range only, through the node, where
# kube-proxy translates a Service IP to an endpoint before routing. Any
# other address of the range (a Service with no endpoints) would follow the
# machine's default route out, so the range is unreachable: a connection
# to it fails at once, as kube-proxy's own rejection makes it fail in any
# cluster, instead of waiting for a timeout. (This machine's own
# connections to a Service IP fail at that route before kube-proxy sees
# them: from here, reach a Service at its node port on $NODE_IP.)
ip route del blackhole "$SERVICE_CIDR" 2>/dev/null || true
ip route replace unreachable "$SERVICE_CIDR"
# Pods reach each other and the host, never the outside: nothing forwarded
# from the pod bridge leaves it.
iptables -N PLATFORM-ISOLATE 2>/dev/null || true
iptables -F PLATFORM-ISOLATE
iptables -A PLATFORM-ISOLATE -i "$POD_BRIDGE" -o "$POD_BRIDGE" -j ACCEPT
# The containers of the stack's Docker engine (docker.sh) connect to pods as
# a router outside the cluster does, and get the answers; netpol, whose
# jumps come first, has judged them by tenants' policies (which name
# DOCKER_CIDR among the router's addresses when such a router serves them).
iptables -A PLATFORM-ISOLATE -s "$DOCKER_CIDR" -o "$POD_BRIDGE" -j ACCEPT
iptables -A PLATFORM-ISOLATE -i "$POD_BRIDGE" -d "$DOCKER_CIDR" -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
iptables -A PLATFORM-ISOLATE -i "$POD_BRIDGE" -j DROP
# Nothing from elsewhere is routed to the pods either.
iptables -A PLATFORM-ISOLATE -o "$POD_BRIDGE" -j DROP
iptables -C FORWARD -j PLATFORM-ISOLATE 2>/dev/null || iptables -I FORWARD -j PLATFORM-ISOLATE
# Pods reach nothing on this machine: not the kubelet, not the API server's
# or platformd's ports, whatever address they try. Answers to connections
# the machine opened (probes, the router, logs) pass.
iptables -N PLATFORM-PODS-IN 2>/dev/null || true
iptables -F PLATFORM-PODS-IN
iptables -A PLATFORM-PODS-IN -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
# The exceptions: the cluster DNS, which serves on the node's address
# behind the kube-dns Service, as a node-local DNS cache does; and the API
# server (the kubernetes Service's endpoint), for pods whose egress
# NetworkPolicies allow it: netpol judges those packets first (tenants'
# policies do not allow the node's address, so their apps never reach it).
iptables -A PLATFORM-PODS-IN -d "$NODE_IP" -p udp --dport 53 -j ACCEPT
iptables -A PLATFORM-PODS-IN -d "$NODE_IP" -p tcp --dport 53 -j ACCEPT
# netpol's chain (which it fills once it runs, before any pod does) drops
# what a pod's egress policies do not allow and returns the rest.
iptables -N PLATFORM-NETPOL 2>/dev/null || true
iptables -A PLATFORM-PODS-IN -d "$NODE_IP" -p tcp --dport 6443 -j PLATFORM-NETPOL
iptables -A PLATFORM-PODS-IN -d "$NODE_IP" -p tcp --dport 6443 -j ACCEPT
iptables -A PLATFORM-PODS-IN -d "$NODE_IP" -p tcp --dport "$INSTALL_DB_PORT" -j PLATFORM-NETPOL
iptables -A PLATFORM-PODS-IN -d "$NODE_IP" -p tcp --dport "$INSTALL_DB_PORT" -j ACCEPT
iptables -A PLATFORM-PODS-IN -j DROP
iptables -C INPUT -i "$POD_BRIDGE" -j PLATFORM-PODS-IN 2>/dev/null || iptables -I INPUT -i "$POD_BRIDGE" -j PLATFORM-PODS-IN

# The build sandbox. BuildKit puts each build step in a network namespace on
# $BUILD_BRIDGE (see its CNI configuration below); the step reaches the
# internet through NAT and nothing else: not this machine on any address,
# not the pods or services, not private, link-local (the cloud metadata
# address) or loopback networks. The resolvers of /etc/resolv.conf are the
# exception, on port 53 only, since builds resolve package registries.
sysctl -qw net.ipv4.ip_forward=1
if ! ip link show "$BUILD_BRIDGE" >/dev/null 2>&1; then
  ip link add "$BUILD_BRIDGE" type bridge
fi
ip link set "$BUILD_BRIDGE" up
iptables -N PLATFORM-BUILDS-IN 2>/dev/null || true
iptables -F PLATFORM-BUILDS-IN
iptables -A PLATFORM-BUILDS-IN -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
iptables -A PLATFORM-BUILDS-IN -j DROP
iptables -C INPUT -i "$BUILD_BRIDGE" -j PLATFORM-BUILDS-IN 2>/dev/null || iptables -I INPUT -i "$BUILD_BRIDGE" -j PLATFORM-BUILDS-IN
iptables -N PLATFORM-BUILDS 2>/dev/null || true
iptables -F PLATFORM-BUILDS
iptables -A PLATFORM-BUILDS -o "$BUILD_BRIDGE" -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
iptables -A PLATFORM-BUILDS -o "$BUILD_BRIDGE" -j DROP
for ns in $(awk '$1 == "nameserver" && $2 ~ /^[0-9.]+$/ && $2 !~ /^127\./ { print $2 }' /etc/resolv.conf); do
  iptables -A PLATFORM-BUILDS -i "$BUILD_BRIDGE" -d "$ns" -p udp --dport 53 -j ACCEPT
  iptables -A PLATFORM-BUILDS -i "$BUILD_BRIDGE" -d "$ns" -p tcp --dport 53 -j ACCEPT
done
build_deny="0.0.0.0/8 10.0.0.0/8 100.64.0.0/10 127.0.0.0/8 169.254.0.0/16 172.16.0.0/12 192.168.0.0/16 224.0.0.0/3 $POD_CIDR $SERVICE_CIDR $BUILD_CIDR"
# The networks this machine is on (its neighbours: other nodes, in a cluster).
build_deny="$build_deny $(ip -4 route show scope link | awk -v b="$BUILD_BRIDGE" '$3 != b { print $1 }' | tr '\n' ' ')"
# An operator's own additions, space-separated.
build_deny="$build_deny ${PLATFORM_BUILD_DENY_CIDRS:-}"
for cidr in $build_deny; do
  iptables -A PLATFORM-BUILDS -i "$BUILD_BRIDGE" -d "$cidr" -j REJECT --reject-with icmp-net-prohibited
done
iptables -A PLATFORM-BUILDS -i "$BUILD_BRIDGE" -j ACCEPT
iptables -C FORWARD -j PLATFORM-BUILDS 2>/dev/null || iptables -I FORWARD -j PLATFORM-BUILDS
iptables -t nat -N PLATFORM-BUILDS-NAT 2>/dev/null || true
iptables -t nat -F PLATFORM-BUILDS-NAT
iptables -t nat -A PLATFORM-BUILDS-NAT -s "$BUILD_CIDR" ! -d "$BUILD_CIDR" -j MASQUERADE
iptables -t nat -C POSTROUTING -j PLATFORM-BUILDS-NAT 2>/dev/null || iptables -t nat -I POSTROUTING -j PLATFORM-BUILDS-NAT
# Nor do Service IPs mean anything to a build: kube-proxy's translation is
# skipped for what comes from the build bridge, so a Service IP stays one of
# the denied ranges instead of becoming a pod's or the node's address.
iptables -t nat -N PLATFORM-BUILDS-PRE 2>/dev/null || true
iptables -t nat -F PLATFORM-BUILDS-PRE
iptables -t nat -A PLATFORM-BUILDS-PRE -i "$BUILD_BRIDGE" -j ACCEPT
iptables -t nat -C PREROUTING -j PLATFORM-BUILDS-PRE 2>/dev/null || iptables -t nat -I PREROUTING -j PLATFORM-BUILDS-PRE
mkdir -p "$STATE/cni/net.d" "$STATE/cni/ipam"
cat > "$STATE/cni/net.d/10-platform.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "platform",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$POD_BRIDGE",
      "isGateway": false,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$STATE/cni/ipam",
        "ranges": [[{"subnet": "$POD_CIDR", "rangeStart": "${POD_CIDR%.*}.10", "rangeEnd": "${POD_CIDR%.*}.250", "gateway": "$NODE_IP"}]],
        "routes": [{"dst": "$SERVICE_CIDR", "gw": "$NODE_IP"}]
      }
    },
    {"type": "loopback"}
  ]
}
EOF

# --- Postgres ------------------------------------------------------------------
say "postgres ($postgres_mode)"
case $postgres_mode in
  external) db_url=$DATABASE_URL ;;
  local)
    # One database per state directory: each clone's stack has its own secret
    # key, so it cannot share data with another's. A fresh state directory
    # (no secret key yet) starts from a fresh database.
    db=platform_$(printf '%s' "$STATE" | sha256sum | cut -c1-12)
    psql_() { psql -h 127.0.0.1 -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }
    if [ ! -s "$STATE/secret-key" ]; then
      psql_ -qc "drop database if exists $db with (force)" \
        || fail postgres "could not reset database $db on 127.0.0.1:5432; set DATABASE_URL to a database platformd may use"
    fi
    if ! psql_ -tAc "select 1 from pg_database where datname='$db'" | grep -q 1; then
      psql_ -qc "create database $db" \
        || fail postgres "could not create database $db on 127.0.0.1:5432; set DATABASE_URL to a database platformd may use"
    fi
    db_url="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"
    ;;
  own)
    pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    # The stack's own server asks for a password, like a real one.
    if [ ! -s "$STATE/postgres-password" ]; then
      (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$STATE/postgres-password")
    fi
    export PGPASSWORD=$(cat "$STATE/postgres-password")
    if [ ! -f "$STATE/postgres/PG_VERSION" ]; then
      mkdir -p "$STATE/postgres"
      chown postgres: "$STATE/postgres"
      install -o postgres -m 600 "$STATE/postgres-password" "$STATE/postgres.pw"
      runuser -u postgres -- "$pgbin/initdb" -D "$STATE/postgres" -U postgres --auth=scram-sha-256 \
        --pwfile="$STATE/postgres.pw" >> "$LOGS/postgres.log"
      rm -f "$STATE/postgres.pw"
    fi

    start postgres runuser -u postgres -- "$pgbin/postgres" -D "$STATE/postgres" \
      -c listen_addresses=127.0.0.1 -p "$OWN_POSTGRES_PORT" -k "$STATE/postgres"
    wait_for postgres 60 pg_isready -q -h 127.0.0.1 -p "$OWN_POSTGRES_PORT"
    psql -h 127.0.0.1 -p "$OWN_POSTGRES_PORT" -U postgres -d postgres -tAc "select 1 from pg_database where datname='platform'" | grep -q 1 \
      || psql -h 127.0.0.1 -p "$OWN_POSTGRES_PORT" -U postgres -d postgres -qc "create database platform"
    db_url="postgres://postgres:$PGPASSWORD@127.0.0.1:$OWN_POSTGRES_PORT/platform?sslmode=disable"
    ;;
esac

echo "$postgres_mode" > "$STATE/postgres-mode"

# --- control plane -----------------------------------------------------------
say "etcd"
start etcd etcd --name platform --data-dir "$STATE/etcd" \
  --listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
  --listen-peer-urls "$ETCD_PEER_URL" --initial-advertise-peer-urls "$ETCD_PEER_URL" \
  --initial-cluster "platform=$ETCD_PEER_URL" \
  --cert-file="$PKI/etcd/server.crt" --key-file="$PKI/etcd/server.key" \
  --client-cert-auth --trusted-ca-file="$PKI/etcd/ca.crt"
etcd_healthy() {
  curl -sf --cacert "$PKI/etcd/ca.crt" --cert "$PKI/etcd/apiserver.crt" --key "$PKI/etcd/apiserver.key" "$ETCD_URL/health"
}
wait_for etcd 60 etcd_healthy

say "kube-apiserver"
# It listens on the node's address on the pod bridge and is the endpoint
# of the kubernetes Service, as in any cluster: pods reach it through
# kube-proxy when their namespace's NetworkPolicies let them (tenants'
# do not; see the firewall above), and it answers nothing without
# credentials (tenants' pods have none), which also covers a new pod's
# first moments before netpol knows it. Privileged pods are allowed, as in most
# clusters (the chart's BuildKit is one); tenants never make pods
# themselves.
start kube-apiserver "$BIN/kube-apiserver" \
  --etcd-servers="$ETCD_URL" \
  --etcd-cafile="$PKI/etcd/ca.crt" --etcd-certfile="$PKI/etcd/apiserver.crt" --etcd-keyfile="$PKI/etcd/apiserver.key" \
  --encryption-provider-config="$PKI/encryption.yaml" \
  --bind-address="$NODE_IP" --advertise-address="$NODE_IP" --secure-port=6443 \
  --service-cluster-ip-range="$SERVICE_CIDR" \
  --client-ca-file="$PKI/ca.crt" \
  --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --kubelet-client-certificate="$PKI/admin.crt" --kubelet-client-key="$PKI/admin.key" \
  --kubelet-preferred-address-types=InternalIP,Hostname \
  --service-account-key-file="$PKI/sa.pub" \
  --service-account-signing-key-file="$PKI/sa.key" \
  --service-account-issuer=https://kubernetes.default.svc \
  --authorization-mode=Node,RBAC \
  --anonymous-auth=false \
  --allow-privileged=true \
  --enable-priority-and-fairness=false \
  --profiling=false
apiserver_ready() {
  curl -sf --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "$APISERVER_URL/readyz"
}
wait_for kube-apiserver 120 apiserver_ready

say "netpol"
# It enforces the tenants' NetworkPolicies on the pod bridge, before any
# pod starts. A rebuilt binary replaces the running one.
netpol_sum=$(sha256sum "$BIN/netpol" | cut -d' ' -f1)
if running netpol && [ "$(cat "$STATE/netpol.sum" 2>/dev/null)" != "$netpol_sum" ]; then
  stop netpol
fi
echo "$netpol_sum" > "$STATE/netpol.sum"
CONFIG_FILES="$STATE/kubeconfig" start netpol "$BIN/netpol" --kubeconfig="$STATE/kubeconfig" --bridge="$POD_BRIDGE" \
  --pod-cidr="$POD_CIDR" --node-ip="$NODE_IP" --health-addr="$NETPOL_HEALTH_ADDR"
wait_for netpol 60 curl -sf "http://$NETPOL_HEALTH_ADDR/healthz"

say "kube-controller-manager, kube-scheduler"
CONFIG_FILES="$STATE/kubeconfig" start kube-controller-manager "$BIN/kube-controller-manager" \
  --kubeconfig="$STATE/kubeconfig" \
  --authentication-kubeconfig="$STATE/kubeconfig" --authorization-kubeconfig="$STATE/kubeconfig" \
  --bind-address=127.0.0.1 \
  --controllers='*,-nodeipam' --leader-elect=false \
  --service-account-private-key-file="$PKI/sa.key" \
  --root-ca-file="$PKI/ca.crt" \
  --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
  --use-service-account-credentials=true \
  --profiling=false
CONFIG_FILES="$STATE/kubeconfig" start kube-scheduler "$BIN/kube-scheduler" \
  --kubeconfig="$STATE/kubeconfig" \
  --authentication-kubeconfig="$STATE/kubeconfig" --authorization-kubeconfig="$STATE/kubeconfig" \
  --bind-address=127.0.0.1 --leader-elect=false --profiling=false
wait_for kube-controller-manager 60 curl -skf https://127.0.0.1:10257/healthz
wait_for kube-scheduler 60 curl -skf https://127.0.0.1:10259/healthz

say "coredns"
# The cluster DNS: Service and pod names of cluster.local, nothing else
# (pods reach nothing outside the machine, so they resolve nothing there).
# It serves on the node's address; the kube-dns Service points there.
mkdir -p "$STATE/coredns"
cat > "$STATE/coredns/Corefile" <<EOF
.:53 {
    bind $NODE_IP
    errors
    health $COREDNS_HEALTH_ADDR
    ready $COREDNS_READY_ADDR
    kubernetes $CLUSTER_DOMAIN in-addr.arpa ip6.arpa {
        kubeconfig $STATE/kubeconfig local
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 30
    loop
    reload
}
EOF
CONFIG_FILES="$STATE/coredns/Corefile $STATE/kubeconfig" start coredns "$BIN/coredns" -conf "$STATE/coredns/Corefile"
wait_for coredns 60 curl -sf "http://$COREDNS_READY_ADDR/ready"
kubectl_ apply -f - > /dev/null <<EOF
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {k8s-app: kube-dns}
spec:
  clusterIP: $DNS_SERVICE_IP
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: 53}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-node
  namespace: kube-system
  labels:
    kubernetes.io/service-name: kube-dns
    endpointslice.kubernetes.io/managed-by: platform-local-stack
addressType: IPv4
endpoints:
- addresses: ["$NODE_IP"]
  conditions: {ready: true}
  nodeName: $NODE_NAME
ports:
- {name: dns, port: 53, protocol: UDP}
- {name: dns-tcp, port: 53, protocol: TCP}
EOF

say "storage"
# PersistentVolumeClaims of the default StorageClass get a directory under
# $VOLUMES. A rebuilt binary replaces the running one.
storage_sum=$(sha256sum "$BIN/storage" | cut -d' ' -f1)
if running storage && [ "$(cat "$STATE/storage.sum" 2>/dev/null)" != "$storage_sum" ]; then
  stop storage
fi
echo "$storage_sum" > "$STATE/storage.sum"
CONFIG_FILES="$STATE/kubeconfig" start storage "$BIN/storage" --kubeconfig="$STATE/kubeconfig" --root="$VOLUMES" \
  --node-name="$NODE_NAME" --health-addr="$STORAGE_HEALTH_ADDR"
wait_for storage 60 curl -sf "http://$STORAGE_HEALTH_ADDR/healthz"
kubectl_ apply -f - > /dev/null <<EOF
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: $STORAGE_CLASS
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: platform.local/hostpath
reclaimPolicy: Delete
volumeBindingMode: WaitForFirstConsumer
EOF

# --- node ----------------------------------------------------------------------
say "containerd"
# The platform's registry speaks plain HTTP on loopback. It answers nothing
# without a token: the kubelet pulls a tenant's images with the pull secret
# platformd puts in the tenant's namespace. (Pods name images by the
# registry's address; none is named on Docker Hub, whose mirror this
# containerd therefore does not have.)
rm -rf "$STATE/containerd/certs.d/docker.io"
mkdir -p "$STATE/containerd/certs.d/$REGISTRY_ADDR"
cat > "$STATE/containerd/certs.d/$REGISTRY_ADDR/hosts.toml" <<EOF
server = "http://$REGISTRY_ADDR"
[host."http://$REGISTRY_ADDR"]
  capabilities = ["pull", "resolve"]
EOF
# The registry of a platform installed by the chart (INSTALL_REGISTRY).
mkdir -p "$STATE/containerd/certs.d/$INSTALL_REGISTRY"
cat > "$STATE/containerd/certs.d/$INSTALL_REGISTRY/hosts.toml" <<EOF
server = "http://$INSTALL_REGISTRY"
[host."http://$INSTALL_REGISTRY"]
  capabilities = ["pull", "resolve"]
EOF
# The registry of a platform run by the docker-compose.yml (COMPOSE_REGISTRY).
mkdir -p "$STATE/containerd/certs.d/$COMPOSE_REGISTRY"
cat > "$STATE/containerd/certs.d/$COMPOSE_REGISTRY/hosts.toml" <<EOF
server = "http://$COMPOSE_REGISTRY"
[host."http://$COMPOSE_REGISTRY"]
  capabilities = ["pull", "resolve"]
EOF
cat > "$STATE/containerd/config.toml" <<EOF
version = 2
root = "$STATE/containerd/root"
state = "$RUN/containerd"
[grpc]
  address = "$RUN/containerd.sock"
[ttrpc]
  address = "$RUN/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # This machine refuses negative oom_score_adj values, which a pod sandbox
  # asks for; restricting keeps them at or above containerd's own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$STATE/containerd/certs.d"
EOF
running containerd || rm -f "$RUN/containerd.sock" "$RUN/containerd.sock.ttrpc"
start containerd containerd --config "$STATE/containerd/config.toml"
wait_for containerd 60 crictl_ info

say "buildkitd"
mkdir -p "$STATE/buildkit" "$CACHE/buildkit"
cat > "$STATE/buildkit/buildkitd.toml" <<EOF
root = "$CACHE/buildkit"
[grpc]
  address = ["unix://$RUN/buildkitd.sock"]
[worker.oci]
  enabled = true
  snapshotter = "overlayfs"
  # Build steps run in network namespaces of their own on $BUILD_BRIDGE,
  # which the firewall above lets reach the internet and nothing else.
  networkMode = "cni"
  cniConfigPath = "$STATE/buildkit/cni.json"
  cniBinaryPath = "/usr/lib/cni"
  cniPoolSize = 4
  gc = true
  gckeepstorage = "20GB"
[worker.containerd]
  enabled = false
# Builds use the Dockerfile frontend compiled into buildkitd and no other:
# a frontend image of a user's choosing would run with the build's secrets.
[frontends."gateway.v0"]
  enabled = false
[registry."$REGISTRY_ADDR"]
  http = true
  insecure = true
# FROM debian:bookworm and the other base images resolve to the platform's
# registry. BuildKit asks the build's session for the credential of the host
# it sends a request to, the registry's address, and platformd answers with
# the build's own credential (pull on library/* and platform/*).
[registry."docker.io"]
  mirrors = ["$REGISTRY_ADDR"]
EOF
cat > "$STATE/buildkit/cni.json" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "platform-builds",
  "type": "bridge",
  "bridge": "$BUILD_BRIDGE",
  "isGateway": true,
  "ipMasq": false,
  "hairpinMode": false,
  "ipam": {
    "type": "host-local",
    "dataDir": "$STATE/cni/build-ipam",
    "ranges": [[{"subnet": "$BUILD_CIDR"}]],
    "routes": [{"dst": "0.0.0.0/0"}]
  }
}
EOF
# buildkitd keeps its state in the machine-wide cache so the layer and
# download caches survive a fresh clone; the config in $STATE names it.
running buildkitd || rm -f "$RUN/buildkitd.sock"
CONFIG_FILES="$STATE/buildkit/buildkitd.toml $STATE/buildkit/cni.json" \
  start buildkitd "$BIN/buildkitd" --config "$STATE/buildkit/buildkitd.toml"
wait_for buildkitd 60 "$BIN/mkimage" --addr "unix://$RUN/buildkitd.sock" --ping

if ! ctr --address "$RUN/containerd.sock" -n k8s.io images ls -q | grep -qxF "$PAUSE_IMAGE"; then
  say "pod sandbox image"
  tmp=$(mktemp -d)
  mkdir -p "$tmp/rootfs"
  cp "$BIN/pause" "$tmp/rootfs/pause"
  "$BIN/mkimage" --addr "unix://$RUN/buildkitd.sock" --rootfs "$tmp/rootfs" --cmd /pause --env "" \
    --name "$PAUSE_IMAGE" --docker-tar "$tmp/pause.tar" >> "$LOGS/images.log" 2>&1 \
    || fail images "could not build the pod sandbox image"
  ctr --address "$RUN/containerd.sock" -n k8s.io images import "$tmp/pause.tar" >> "$LOGS/images.log" 2>&1 \
    || fail images "could not import the pod sandbox image into containerd"
  rm -rf "$tmp"
fi

say "kubelet"
mkdir -p "$STATE/kubelet"
cat > "$STATE/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
containerRuntimeEndpoint: unix://$RUN/containerd.sock
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
# Pods resolve with the cluster DNS only: names of the cluster, nothing
# outside it (apps reach nothing outside).
resolvConf: ""
clusterDNS: ["$DNS_SERVICE_IP"]
clusterDomain: $CLUSTER_DOMAIN
# Like a real cluster's: no anonymous requests, and every request the
# API server authorizes (only it and the stack's admin may use the API).
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization:
  mode: Webhook
evictionHard:
  memory.available: "100Mi"
  nodefs.available: "2%"
  imagefs.available: "2%"
imageGCHighThresholdPercent: 95
imageGCLowThresholdPercent: 90
serializeImagePulls: false
EOF
CONFIG_FILES="$STATE/kubelet/config.yaml $STATE/kubeconfig" start kubelet "$BIN/kubelet" \
  --config="$STATE/kubelet/config.yaml" \
  --kubeconfig="$STATE/kubeconfig" \
  --root-dir="$STATE/kubelet" \
  --hostname-override="$NODE_NAME" \
  --node-ip="$NODE_IP"
node_ready() {
  [ "$(kubectl_ get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]
}
wait_for kubelet 120 node_ready
default_sa() { kubectl_ -n default get serviceaccount default; }
wait_for kube-controller-manager 60 default_sa

say "kube-proxy"
# Service IPs work as in any cluster: kube-proxy in iptables mode. NodePorts
# open on the node's bridge address only. It leaves the machine's conntrack
# settings alone. It starts once the kubelet has registered the node: a
# kube-proxy that starts first gives up waiting for the node after 30 s,
# runs without the node's address, and exits when the node appears (it
# expects a supervisor to start it again), which leaves NodePorts closed.
mkdir -p "$STATE/kube-proxy"
cat > "$STATE/kube-proxy/config.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: $STATE/kubeconfig
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: $POD_CIDR
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["$NODE_IP/32"]
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
EOF
CONFIG_FILES="$STATE/kube-proxy/config.yaml $STATE/kubeconfig" start kube-proxy "$BIN/kube-proxy" --config="$STATE/kube-proxy/config.yaml"
kube_proxy_synced() { iptables -S FORWARD | grep -q -- '-j KUBE-FORWARD'; }
wait_for kube-proxy 60 kube_proxy_synced
# kube-proxy puts its jumps first in FORWARD, and what it accepts there
# (packets it marked for masquerade) would pass before the stack's own
# isolation: the stack's chains go back in front (netpol puts its own
# before them again). kube-proxy adds a jump only when it is missing, so
# the order holds.
# Likewise the build bridge's exemption from Service translation goes back
# before kube-proxy's.
put_first filter FORWARD PLATFORM-BUILDS
put_first filter FORWARD PLATFORM-ISOLATE
put_first nat PREROUTING PLATFORM-BUILDS-PRE

# --- platformd -----------------------------------------------------------------
say "platformd"
mkdir -p "$STATE/platformd"
if [ ! -s "$STATE/secret-key" ]; then
  (umask 077; head -c 32 /dev/urandom | base64 > "$STATE/secret-key")
fi
# A rebuilt platformd replaces the running one; an unchanged one is left be.
sum=$(sha256sum "$ROOT/bin/platformd" | cut -d' ' -f1)
if running platformd && [ "$(cat "$STATE/platformd.sum" 2>/dev/null)" != "$sum" ]; then
  echo "    platformd was rebuilt; restarting it"
  stop platformd
fi
# A rename, not a copy: the running binary's file may be busy.
cp "$ROOT/bin/platformd" "$BIN/platformd.new"
mv -f "$BIN/platformd.new" "$BIN/platformd"
echo "$sum" > "$STATE/platformd.sum"
# Builds trust what this machine trusts: its whole CA bundle, so a machine
# behind a TLS-inspecting proxy (whose CA it has installed) builds apps that
# download dependencies. PLATFORM_BUILD_CA_FILE, and the other PLATFORM_BUILD_*
# settings (proxy, mirrors; see README), are taken from the environment.
BUILD_CA_FILE=${PLATFORM_BUILD_CA_FILE:-}
if [ -z "$BUILD_CA_FILE" ] && [ -s /etc/ssl/certs/ca-certificates.crt ]; then
  BUILD_CA_FILE=/etc/ssl/certs/ca-certificates.crt
fi
# platformd reads the bundle at start: a changed one needs a restart.
ca_sum=none
[ -z "$BUILD_CA_FILE" ] || ca_sum=$(cat $(echo "$BUILD_CA_FILE" | tr , ' ') | sha256sum | cut -d' ' -f1)
if running platformd && [ "$(cat "$STATE/platformd.build-ca" 2>/dev/null)" != "$ca_sum" ]; then
  echo "    the build CA bundle changed; restarting platformd"
  stop platformd
fi
echo "$ca_sum" > "$STATE/platformd.build-ca"
# Apps' processes ask the scheduler for a quarter of their size's CPU
# (--cpu-request-percent; limits stay whole): the stack's one node has this
# machine's few cores, and the tests run many apps at once.
CONFIG_FILES="$STATE/kubeconfig" start platformd "$BIN/platformd" \
  --build-ca-file="$BUILD_CA_FILE" \
  --build-cgroup-root=/sys/fs/cgroup \
  --domain-verification=off \
  --data-dir="$STATE/platformd" \
  --secret-key-file="$STATE/secret-key" \
  --database-url="$db_url" \
  --kubeconfig="$STATE/kubeconfig" \
  --buildkit-addr="unix://$RUN/buildkitd.sock" \
  --http-addr="$API_ADDR" \
  --registry-addr="$REGISTRY_ADDR" \
  --stack-images-registry="$REGISTRY_ADDR" \
  --git-addr="$GIT_ADDR" \
  --router-addr="$ROUTER_ADDR" \
  --router-https-addr="$ROUTER_HTTPS_ADDR" \
  --router-https-port="${ROUTER_HTTPS_ADDR##*:}" \
  --router-cidrs="$NODE_IP/32" \
  --cpu-request-percent=25 \
  --apps-domain="$APPS_DOMAIN"
wait_for platformd 90 curl -sf "http://$API_ADDR/readyz"
[ -s "$STATE/platformd/admin-token" ] || fail platformd "no admin token in $STATE/platformd/admin-token (was the database used by another platformd? make clean starts over)"

# --- base images -------------------------------------------------------------
say "base images"
"$HERE/images.sh"

# platformd's own registry credential, for the tests that read the registry
# or push to it themselves; minted anew by every make up.
(umask 077; "$BIN/platformd" registry-credential --secret-key-file="$STATE/secret-key" --ttl=720h \
  --subject=local-stack-tests > "$STATE/registry-credential.tmp")
mv "$STATE/registry-credential.tmp" "$STATE/registry-credential"

# --- the contract ------------------------------------------------------------
cat > "$STATE/env.tmp" <<EOF
# Written by make up. Source it: . .platform/env
export PLATFORM_API_URL=http://$API_ADDR
export PLATFORM_TOKEN=$(cat "$STATE/platformd/admin-token")
export PLATFORM_GIT_URL=ssh://git@$GIT_ADDR
export PLATFORM_ROUTER_URL=http://$ROUTER_ADDR
export PLATFORM_ROUTER_HTTPS_URL=https://$ROUTER_HTTPS_ADDR
export PLATFORM_APPS_DOMAIN=$APPS_DOMAIN
export PLATFORM_REGISTRY=$REGISTRY_ADDR
export PLATFORM_BUILDKIT_ADDR=unix://$RUN/buildkitd.sock
export KUBECONFIG=$STATE/kubeconfig
export DATABASE_URL='$db_url'
# platformd's key for config vars at rest, for tests that read the store.
export PLATFORM_SECRET_KEY_FILE=$STATE/secret-key
# A credential of the registry that may do everything (user "platform").
export PLATFORM_REGISTRY_CREDENTIAL_FILE=$STATE/registry-credential
# The CA certificates builds trust besides their images' own.
export PLATFORM_BUILD_CA_FILE=$BUILD_CA_FILE
# The platformd image of this checkout, in the registry (for the chart).
export PLATFORM_IMAGE=$(cat "$STATE/platformd-image")
export PLATFORM_HELM_CHART=$ROOT/deploy/helm/platform
# For a platform installed on this cluster by the chart: the node's
# address (node ports), where its registry's node port is, and where the
# machine's Postgres may be offered to its pods.
export PLATFORM_NODE_IP=$NODE_IP
export PLATFORM_INSTALL_REGISTRY=$INSTALL_REGISTRY
export PLATFORM_INSTALL_DATABASE_ADDR=$NODE_IP:$INSTALL_DB_PORT
# The addresses of the stack's Docker engine's containers (docker.sh).
export PLATFORM_DOCKER_CIDR=$DOCKER_CIDR
export PATH=$BIN:\$PATH
EOF
chmod 600 "$STATE/env.tmp"
mv "$STATE/env.tmp" "$STATE/env"

cat <<EOF

ready in $((SECONDS - t0))s: a single-node Kubernetes ($NODE_NAME), BuildKit, the registry at $REGISTRY_ADDR and platformd at http://$API_ADDR

  . .platform/env           # PLATFORM_API_URL, PLATFORM_TOKEN, KUBECONFIG, ... and $BIN on PATH
  kubectl get nodes         # the stack's own kubectl, in $BIN
  make test                 # every test, against this stack
  make down                 # stop it; data stays in $STATE for the next make up

logs: $LOGS
EOF
