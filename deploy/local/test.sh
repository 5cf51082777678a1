#!/usr/bin/env bash
# test.sh runs every test (make test): it brings the local stack up, or
# brings it up to date when it is up (up.sh is idempotent and restarts
# platformd when its binary changed, so end-to-end tests run against the
# code under test), starts the stack's Docker engine (docker.sh, for the
# docker-compose.yml's test), then runs the static checks and the Go tests
# with .platform/env. Nothing skips: PLATFORM_TEST_REQUIRE=all makes a test
# whose dependency is missing fail, saying what to install or run (see
# package deploy/localstack, Need).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

"$HERE/up.sh"
. "$STATE/env"
# The Docker engine of the docker-compose.yml's test.
DOCKER_HOST=$("$HERE/docker.sh")
export DOCKER_HOST
cd "$ROOT"
make -s vet
export PLATFORM_TEST_REQUIRE=all
go test -count=1 -race -timeout 45m ./... "$@"
