# rackd and the rack RPC: the package tests (netns tests need root; the
# regiond HA test needs PostgreSQL, started here), and the rackd binary.
.PHONY: test-rack rackd
test-rack:
	./scripts/with-postgres.sh $(GO) test -race -count=1 -v -run . ./internal/rpc ./internal/rack

rackd:
	CGO_ENABLED=0 $(GO) build -o bin/rackd ./cmd/rackd
