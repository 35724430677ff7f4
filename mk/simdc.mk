# simdc: the mass-deploy benchmark (issue 9). 1,000 simulated machines
# New → Deployed against one region on a throwaway PostgreSQL and the
# in-process rack; prints the total and per-phase p50/p99/max.
.PHONY: bench-deploy demo
bench: bench-deploy
bench-deploy:
	./scripts/with-postgres.sh sh -c '$(GO) run ./cmd/ironkit-demo -machines 1000 -listen 127.0.0.1:0 -exit -database "$$IRONKIT_TEST_POSTGRES" | grep -v "^sim-"'

# The demo: regiond on SQLite + in-process rack + 20 simulated machines;
# the API stays up for ironctl until Ctrl-C.
demo:
	$(GO) run ./cmd/ironkit-demo
