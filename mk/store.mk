# store: focused benchmark run (make bench runs these too, via bench-go).
# Allocations/s and transitions/s on SQLite and on a throwaway PostgreSQL,
# next to the bare-insert reference; see store/README.md for the figures.
.PHONY: bench-store
bench-store:
	./scripts/with-postgres.sh $(GO) test -run '^$$' -bench . -benchtime 2s -count 3 ./store/
