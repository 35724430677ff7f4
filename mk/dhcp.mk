# dhcpsrv: fuzzing and the perfdhcp benchmark against Kea and ISC dhcpd.
.PHONY: fuzz-dhcp bench-dhcp
bench: bench-dhcp

# The packet-path fuzz target (`go test` alone runs its seed corpus).
fuzz-dhcp:
	$(GO) test -run '^$$' -fuzz FuzzHandle -fuzztime $${FUZZTIME:-10s} ./dhcpsrv

# perfdhcp rate steps against ironkit (alone and with a failover partner),
# Kea 2.2 (memfile persist=true, single-threaded) and ISC dhcpd 4.4 in the
# same run and topology, every server pinned to one core and capped at the
# same CPU budget (dhcpsrv/README.md, "Method"). Root; three runs, ~30 min
# (RUNS=1 for one).
bench-dhcp:
	./dhcpsrv/bench/bench-dhcp.sh
