#!/usr/bin/env bash
# build-tools.sh builds the local stack's tool binaries (Kubernetes components,
# CoreDNS, buildkitd, Helm) from the Go modules pinned under deploy/local/tools, and caches
# them outside the work tree, keyed by the pinned versions and the Go version,
# so a second run (or another clone) takes seconds.
#
# Usage: build-tools.sh BINDIR
# BINDIR receives symlinks to the cached binaries.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bindir=${1:?usage: build-tools.sh BINDIR}
cache=${PLATFORM_CACHE_DIR:-/var/cache/platform}
gover=$(go env GOVERSION)
mkdir -p "$bindir"

# build MODULE_DIR NAME LDFLAGS PACKAGE...: one cache entry per tools module.
build() {
  local mod=$1; shift
  local name=$1; shift
  local ldflags="-s -w $1"; shift
  local key
  # The key covers the pinned versions and any source of our own in the module.
  key=$(cd "$here/tools/$mod" && { echo "$ldflags"; find . -name go.mod -o -name go.sum -o -name '*.go' | LC_ALL=C sort | xargs cat; } | sha256sum | cut -c1-16)
  local out="$cache/tools/$name-$gover-$key"
  mkdir -p "$out"
  for pkg in "$@"; do
    local bin=${pkg##*/}
    if [ ! -x "$out/$bin" ]; then
      echo "building $bin into $out (once per version; Kubernetes takes minutes)"
      (cd "$here/tools/$mod" && CGO_ENABLED=0 go build -trimpath -ldflags="$ldflags" -o "$out/$bin.tmp" "$pkg")
      mv "$out/$bin.tmp" "$out/$bin"
    fi
  done
  # Entries of older pins are no longer used by this clone.
  local old
  for old in "$cache/tools/$name"-*; do
    [ "$old" = "$out" ] || rm -rf "$old"
  done
  for pkg in "$@"; do
    ln -sfn "$out/${pkg##*/}" "$bindir/${pkg##*/}"
  done
}

# The version the components report (kubectl version, the node's kubelet
# version) is stamped at link time, as Kubernetes' own release builds do.
kv=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }' "$here/tools/kubernetes/go.mod")
kminor=$(echo "$kv" | cut -d. -f2)
kflags="-X k8s.io/component-base/version.gitVersion=$kv -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$kminor -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=$kv -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$kminor"
build kubernetes kubernetes "$kflags" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kubelet \
  k8s.io/kubernetes/cmd/kubectl
build kubeproxy kubeproxy "$kflags" k8s.io/kubernetes/cmd/kube-proxy
bv=$(awk '$1 == "github.com/moby/buildkit" && $2 ~ /^v/ { print $2; exit }' "$here/tools/buildkit/go.mod")
build buildkit buildkit "-X github.com/moby/buildkit/version.Version=$bv" github.com/moby/buildkit/cmd/buildkitd \
  platform.local/tools/buildkit/mkimage \
  platform.local/tools/buildkit/pause
build critools critools "" sigs.k8s.io/cri-tools/cmd/crictl
build coredns coredns "" platform.local/tools/coredns/coredns
hv=$(awk '$1 == "helm.sh/helm/v4" && $2 ~ /^v/ { print $2; exit }' "$here/tools/helm/go.mod")
build helm helm "-X helm.sh/helm/v4/internal/version.version=$hv -X helm.sh/helm/v4/internal/version.gitTreeState=clean" helm.sh/helm/v4/cmd/helm
