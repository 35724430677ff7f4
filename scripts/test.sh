#!/usr/bin/env bash
# make test: install test dependencies, start a throwaway PostgreSQL, run every
# test with the race detector against SQLite and PostgreSQL, report backends.
set -uo pipefail
cd "$(dirname "$0")/.."

./scripts/test-deps.sh || exit 1

export IRONKIT_BACKENDS_REPORT
IRONKIT_BACKENDS_REPORT=$(mktemp /tmp/ironkit-backends.XXXXXX)
trap 'rm -f "$IRONKIT_BACKENDS_REPORT"' EXIT

start=$(date +%s)
./scripts/with-postgres.sh go test -race -count=1 -timeout 15m ./... "$@"
rc=$?
echo "store backends exercised: $(sort -u "$IRONKIT_BACKENDS_REPORT" | tr '\n' ' ')"
echo "make test: $(( $(date +%s) - start ))s, exit $rc"
exit $rc
