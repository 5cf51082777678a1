#!/usr/bin/env bash
# deploy.sh: how fast deploys go live on the local stack (make up), as a
# user sees them; see release/bench/main.go for what it measures.
#
# It builds bin/platform from this tree, loads the stack's environment and
# runs the bench, which prints a table of medians and spreads.
#
# Settings (environment):
#   PLATFORM_ENV_FILE  the local stack's env (default .platform/env)
#   ROUNDS             alternating rounds (default 5)
#   PATHS              what to measure (default push,config,scale,rollback,cold)
#   WRITE              1 to put the table into BENCHMARKS.md
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ENV_FILE=${PLATFORM_ENV_FILE:-$ROOT/.platform/env}
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}

[ -f "$ENV_FILE" ] || { echo "no $ENV_FILE: bring the local stack up first (make up)" >&2; exit 1; }
set -a
# shellcheck disable=SC1090
. "$ENV_FILE"
set +a

cd "$ROOT"
"$GO" build -trimpath -o bin/platform ./cmd/platform
"$GO" build -trimpath -o bin/bench-deploy ./release/bench
args=(-rounds "${ROUNDS:-5}" -paths "${PATHS:-push,config,scale,rollback,cold}" -platform bin/platform)
if [ "${WRITE:-}" = 1 ]; then
  args+=(-write BENCHMARKS.md)
fi
exec bin/bench-deploy "${args[@]}"
