#!/usr/bin/env bash
# images.sh makes the base images that builds use, without any public
# registry: a Debian bookworm root file system from debootstrap, pushed to the
# platform's registry as library/debian:bookworm and :bookworm-slim (which the
# stack's BuildKit and containerd resolve Docker Hub names to), and the
# language stack images under platform/, built from deploy/local/images
# (with platform/buildkitd and platform/postgres, which installs of the Helm
# chart on the local cluster run).
# Each image carries a tag derived from its inputs; an image whose tag is in
# the registry is not made again. The base namespaces are read-only to all
# but platformd's credential, so this script pushes with one, minted from
# the stack's secret key (it is never on a command line).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BASE_VERSION=bookworm-1

MKIMAGE_REGISTRY_CREDENTIAL=$("$BIN/platformd" registry-credential --secret-key-file="$STATE/secret-key" --ttl=2h --subject=images.sh) \
  || fail images "could not mint a registry credential with platformd registry-credential"
export MKIMAGE_REGISTRY_CREDENTIAL

mkimage() {
  "$BIN/mkimage" --addr "unix://$RUN/buildkitd.sock" "$@" >> "$LOGS/images.log" 2>&1
}

have() { # repo tag
  local token
  # The registry's token endpoint; its JSON answer holds "token":"<jwt>".
  # The credential goes to curl on its standard input, not its command line.
  token=$(printf 'user = "platform:%s"\n' "$MKIMAGE_REGISTRY_CREDENTIAL" | curl -sf -K - \
    "http://$REGISTRY_ADDR/token?service=platform-registry&scope=repository:$1:pull" \
    | sed -n 's/.*"token":"\([^"]*\)".*/\1/p') || return 1
  [ -n "$token" ] || return 1
  curl -sf -o /dev/null -I -H "Authorization: Bearer $token" \
    -H 'Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json' \
    "http://$REGISTRY_ADDR/v2/$1/manifests/$2"
}

debian_mirror() {
  local m=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    m=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
    m=$(awk '$1 == "deb" && $3 ~ /^bookworm$/ { print $2; exit }' /etc/apt/sources.list)
  fi
  [ -n "$m" ] || fail images "no Debian mirror found in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"
  echo "$m"
}

# The Debian root file system, made once per machine and kept in the cache.
rootfs=$CACHE/rootfs/debian-$BASE_VERSION
if [ ! -f "$rootfs/.complete" ]; then
  echo "    debootstrap bookworm (once per machine, about half a minute)"
  rm -rf "$rootfs" "$rootfs.tmp"
  mkdir -p "$rootfs.tmp"
  debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs.tmp" "$(debian_mirror)" \
    >> "$LOGS/images.log" 2>&1 || fail images "debootstrap failed"
  # What a slim base leaves out: package lists, caches, documentation.
  rm -rf "$rootfs.tmp"/var/lib/apt/lists/* "$rootfs.tmp"/var/cache/apt/*.bin \
    "$rootfs.tmp"/usr/share/doc/* "$rootfs.tmp"/usr/share/man/* "$rootfs.tmp"/usr/share/info/* \
    "$rootfs.tmp"/var/log/*.log "$rootfs.tmp"/var/log/apt/*
  mv "$rootfs.tmp" "$rootfs"
  touch "$rootfs/.complete"
fi

if ! have library/debian "$BASE_VERSION"; then
  echo "    library/debian:bookworm"
  r=$REGISTRY_ADDR/library/debian
  mkimage --rootfs "$rootfs" --cmd bash --push \
    --name "$r:bookworm,$r:bookworm-slim,$r:12,$r:$BASE_VERSION" \
    || fail images "could not push library/debian:bookworm"
fi

# The stack images. Their tag is a digest of their inputs.
goroot=$(go env GOROOT)
for dir in "$HERE"/images/*/; do
  name=$(basename "$dir")
  inputs=$(cat "$dir"/*; echo "$BASE_VERSION")
  context=$dir
  case $name in
    stack-go)
      inputs="$inputs $(go env GOVERSION)"
      context=$goroot
      ;;
    buildkitd)
      # The stack's own buildkitd, which the context must hold.
      inputs="$inputs $(sha256sum "$BIN/buildkitd" | cut -c1-64)"
      context=$(mktemp -d)
      cp "$BIN/buildkitd" "$context/"
      ;;
  esac
  key=$(printf '%s' "$inputs" | sha256sum | cut -c1-16)
  if ! have "platform/$name" "$key"; then
    echo "    platform/$name"
    r=$REGISTRY_ADDR/platform/$name
    mkimage --context "$context" --dockerfile "$dir/Dockerfile" --push --name "$r:bookworm,$r:$key" \
      || fail images "could not build platform/$name (see $LOGS/images.log)"
  fi
  [ "$context" = "$dir" ] || [ "$context" = "$goroot" ] || rm -rf "$context"
done

# The platformd image, for installs into a cluster (deploy/helm): a static
# binary of this checkout on an empty base (deploy/image/Dockerfile), with
# the Debian base's CA bundle, run as user 65532. Its tag is the version
# (git describe), plus a digest of the binary when the tree has changes.
# Its name goes to $STATE/platformd-image.
version=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo dev)
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
static_platformd() {
  (cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$ctx/platformd" ./cmd/platformd) \
    || fail images "could not build a static platformd"
}
# A clean tree's image is known by its version alone, so the binary is built
# only when that image is missing; a changed tree's tag needs the binary.
tag=$version
case $version in
  *-dirty) static_platformd; tag=$version-$(sha256sum "$ctx/platformd" | cut -c1-12) ;;
esac
image=$REGISTRY_ADDR/platform/platformd:$tag
if ! have platform/platformd "$tag"; then
  [ -s "$ctx/platformd" ] || static_platformd
  echo "    platform/platformd:$tag"
  cp "$rootfs/etc/ssl/certs/ca-certificates.crt" "$ctx/"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nplatform:x:65532:65532:platform:/var/lib/platform:/sbin/nologin\n' > "$ctx/passwd"
  printf 'root:x:0:\nplatform:x:65532:\n' > "$ctx/group"
  mkdir "$ctx/data"
  mkimage --context "$ctx" --dockerfile "$ROOT/deploy/image/Dockerfile" --build-arg "VERSION=$version" --push --name "$image" \
    || fail images "could not build platform/platformd (see $LOGS/images.log)"
fi
echo "$image" > "$STATE/platformd-image"
