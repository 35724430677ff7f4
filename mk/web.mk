# Operator web page benchmark: list pages over 10,000 machines on SQLite,
# against the API's own JSON page they wrap.
.PHONY: bench-web
bench: bench-web
bench-web:
	$(GO) test -run XXX -bench MachinesPage -benchtime 100x -count 3 ./internal/region/web/
