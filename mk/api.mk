# Region API benchmark: 10,000 machines in a throwaway PostgreSQL, full list,
# 1,000-machine page, single GET under 500 concurrent clients.
.PHONY: bench-api
bench: bench-api
bench-api:
	./scripts/with-postgres.sh $(GO) run ./internal/region/apibench -machines 10000 -clients 500,8 -rate 200,500,1000,2000 -conns 500 -duration 5s
