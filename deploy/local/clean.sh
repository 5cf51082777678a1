#!/usr/bin/env bash
# clean.sh stops the local stack and removes its state (make clean): the
# cluster, the database it made, the registry's images, the logs. The
# machine-wide cache of built tools and base file systems in $CACHE stays;
# remove it by hand to rebuild everything.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

"$HERE/down.sh"
# The NetworkPolicy rules stay when the stack stops (pods stay isolated);
# clean removes them.
# (The stack's own rule to netpol's chain goes first.)
iptables -F PLATFORM-PODS-IN 2>/dev/null
[ -x "$BIN/netpol" ] && "$BIN/netpol" --cleanup
[ -x "$BIN/kube-proxy" ] && "$BIN/kube-proxy" --cleanup >/dev/null 2>&1
if [ "$(cat "$STATE/postgres-mode" 2>/dev/null)" = local ]; then
  # The database make up created on the machine's Postgres server.
  db=platform_$(printf '%s' "$STATE" | sha256sum | cut -c1-12)
  psql -h 127.0.0.1 -U postgres -d postgres -qc "drop database if exists $db with (force)" || true
fi
unmount_under "$STATE"
rm -rf "$STATE"
ip link delete "$POD_BRIDGE" 2>/dev/null || true
ip link delete "$BUILD_BRIDGE" 2>/dev/null || true
say "removed $STATE"
