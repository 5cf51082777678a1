#!/usr/bin/env bash
# render.sh writes deploy/kubernetes/platform.yaml (make manifests): the Helm
# chart rendered with its defaults and placeholder values, for operators who
# apply plain manifests with kubectl. It leaves the Secrets out (a render
# cannot keep them across upgrades as an install does): README.md in the
# chart says how to make them. It leaves the Helm hooks out too: the
# uninstall hook, applied, would delete every tenant's namespace at once
# (without Helm, `platformd uninstall` is the step before deleting).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
helm=${HELM:-helm}
if ! command -v "$helm" >/dev/null 2>&1; then
  helm=$root/.platform/bin/helm
  [ -x "$helm" ] || { echo "render.sh: no helm: run make up (it builds one into .platform/bin)" >&2; exit 1; }
fi
out=${1:-$root/deploy/kubernetes/platform.yaml}
{
  cat <<'HEADER'
# The platform, rendered from the Helm chart deploy/helm/platform by
# `make manifests`; do not edit, edit the chart. It installs into namespace
# "platform". Before applying, replace the placeholders:
#   registry.example.com/platform/platformd  the platformd image (make image)
#   apps.example.com                         the apps' domain
#   registry.example.com:5000                where BuildKit and the nodes reach the registry
# and make the Secrets the chart would make (deploy/helm/platform/README.md,
# "Without Helm"):
#   kubectl create namespace platform
#   kubectl -n platform create secret generic platform-database --from-literal=DATABASE_URL=postgres://...
#   ... then: kubectl apply -n platform -f platform.yaml
HEADER
  "$helm" template platform "$root/deploy/helm/platform" --namespace platform --no-hooks \
    --set secrets.create=false \
    --set image.repository=registry.example.com/platform/platformd \
    --set appsDomain=apps.example.com \
    --set registry.host=registry.example.com:5000 \
    --set database.existingSecret=platform-database
} > "$out.tmp"
mv "$out.tmp" "$out"
