# dhcpsrv: fuzzing and the perfdhcp benchmark against Kea and ISC dhcpd.
.PHONY: fuzz-dhcp bench-dhcp

# The packet-path fuzz target (`go test` alone runs its seed corpus).
fuzz-dhcp:
	$(GO) test -run '^$$' -fuzz FuzzHandle -fuzztime $${FUZZTIME:-10s} ./dhcpsrv

# perfdhcp rate steps against ironkit (alone and with a failover partner),
# Kea 2.2 (memfile persist=true, single-threaded) and ISC dhcpd 4.4 in the
# same run and topology. Root; a few minutes.
bench-dhcp:
	./dhcpsrv/bench/bench-dhcp.sh
