#!/usr/bin/env bash
# test.sh runs every test (make test): it brings the local stack up if it is
# not up, then runs the static checks and the Go tests with .platform/env.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if ! { [ -f "$STATE/env" ] && running platformd && running kubelet \
       && curl -sf "http://$API_ADDR/readyz" >/dev/null; }; then
  "$HERE/up.sh"
fi
. "$STATE/env"
cd "$ROOT"
make -s vet
go test -count=1 -race -timeout 30m ./... "$@"
