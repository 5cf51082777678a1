#!/usr/bin/env bash
# clean.sh stops the local stack and removes its state (make clean): the
# cluster, the database it made, the registry's images, the logs. The
# machine-wide cache of built tools and base file systems in $CACHE stays;
# remove it by hand to rebuild everything.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

"$HERE/down.sh"
if [ -f "$STATE/env" ] && [ "$(cat "$STATE/postgres-mode" 2>/dev/null)" = local ]; then
  # The database make up created on the machine's Postgres server.
  db_url=$(. "$STATE/env"; echo "$DATABASE_URL")
  case $db_url in
    */platform\?*|*/platform)
      psql "${db_url%/platform*}/postgres" -qc "drop database if exists platform with (force)" 2>/dev/null || true ;;
  esac
fi
unmount_under "$STATE"
rm -rf "$STATE"
ip link delete "$POD_BRIDGE" 2>/dev/null || true
say "removed $STATE"
