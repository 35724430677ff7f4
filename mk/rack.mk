# rackd and the rack RPC: the package tests (netns tests need root; the
# regiond HA test needs PostgreSQL, started here), and the rackd binary.
.PHONY: test-rack rackd
test-rack:
	./scripts/with-postgres.sh $(GO) test -race -count=1 -v -run . ./internal/rpc ./internal/rack

rackd:
	CGO_ENABLED=0 $(GO) build -o bin/rackd ./cmd/rackd

# The heartbeat's config revision, cached against a full config build, with
# 2,000 machines on a throwaway PostgreSQL (internal/rack/README.md).
.PHONY: bench-rack
bench-rack:
	./scripts/with-postgres.sh $(GO) test -run XXX -bench BenchmarkHeartbeatRevision -benchtime 2s -count 3 ./internal/rack
