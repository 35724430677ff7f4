# End to end: two QEMU VMs (SeaBIOS, OVMF) enlist, commission, deploy and
# are released with erase through regiond + rackd (root; see internal/e2e).
.PHONY: test-e2e
test-e2e:
	IRONKIT_E2E=1 $(GO) test -race -count=1 -v -timeout 15m -run TestVMProvisioning ./internal/e2e/
