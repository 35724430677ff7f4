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
# The real-VM end-to-end test (internal/e2e: two QEMU VMs, BIOS and UEFI,
# through regiond and rackd) runs on its own after the others, so that the
# parallel package tests do not slow its TCG guests; it skips with a message
# when not root.
IRONKIT_E2E=1 go test -race -count=1 -timeout 15m -run TestVMProvisioning ./internal/e2e/ || rc=1
# A short fuzz run of the DHCP packet path (its seed corpus already ran above
# as part of the ordinary tests).
go test -run '^$' -fuzz FuzzHandle -fuzztime 10s ./dhcpsrv || rc=1
# The store's tests append each backend that actually ran (not skipped) to
# $IRONKIT_BACKENDS_REPORT; say which ran and which did not.
ran=$(sort -u "$IRONKIT_BACKENDS_REPORT" | tr '\n' ' ')
echo "store backends exercised: ${ran:-none}"
for b in sqlite postgres; do
  grep -qx "$b" "$IRONKIT_BACKENDS_REPORT" ||
    echo "make test: WARNING: the $b backend did not run (see the skip messages above)"
done
echo "make test: $(( $(date +%s) - start ))s, exit $rc"
exit $rc
