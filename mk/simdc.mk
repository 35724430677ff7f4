# simdc: the mass-deploy benchmark (issue 9). 1,000 simulated machines
# New → Deployed against one regiond on a throwaway PostgreSQL and one
# rackd (a separate process, registered over /rpc/v1); prints the total,
# per-phase p50/p99/max and what saturated. BENCH_DEPLOY_FLAGS adds flags,
# e.g. --cpuprofile /tmp/deploy.prof (region + machines; .rackd: the rack).
.PHONY: bench-deploy demo
bench: bench-deploy
bench-deploy:
	@d=$$(mktemp -d) && trap 'rm -rf "$$d"' EXIT && \
	CGO_ENABLED=0 $(GO) build -o "$$d/ironkit-demo" ./cmd/ironkit-demo && \
	./scripts/with-postgres.sh sh -c '"$$0" -machines 1000 -listen 127.0.0.1:0 -exit -database "$$IRONKIT_TEST_POSTGRES" $(BENCH_DEPLOY_FLAGS) | grep -v "^sim-"' "$$d/ironkit-demo"

# The demo: regiond on SQLite + rackd + 20 simulated machines; the API
# stays up for ironctl until Ctrl-C.
demo:
	$(GO) run ./cmd/ironkit-demo
