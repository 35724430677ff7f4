# ironkit — build, test and benchmark entry points.
# Per-area targets (bench-dhcp, bench-tftp, ...) live in mk/*.mk so that each
# package owns its own recipes.
SHELL := /bin/bash
GO ?= go

.PHONY: run build test test-deps lint bench

# The README's first command: the main job on the embedded default (SQLite):
# regiond, a rack and 20 simulated machines going New → Deployed, then the
# API stays up on 127.0.0.1:5240 for ironctl until Ctrl-C.
run:
	$(GO) run ./cmd/ironkit-demo

build:
	CGO_ENABLED=0 $(GO) build ./...

# The README's second command: installs what the tests need, starts a
# throwaway PostgreSQL, runs every test against SQLite and PostgreSQL.
test:
	./scripts/test.sh

test-deps:
	./scripts/test-deps.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	CGO_ENABLED=0 $(GO) vet ./...

# Every benchmark; the bench-* targets from mk/*.mk are prerequisites.
bench: bench-go

bench-go:
	./scripts/with-postgres.sh $(GO) test -run '^$$' -bench . -benchmem -count 3 ./lifecycle/... ./netmodel/... ./store/...

-include mk/*.mk
